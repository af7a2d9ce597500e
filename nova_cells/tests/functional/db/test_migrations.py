"""The migration lines as a whole, and input refused before connecting.

Each line's own tests, run on SQLite, MySQL and PostgreSQL, are in
test_api_migrations.py and test_main_migrations.py (the shared suite is
fixtures/migration_suite.py).
"""

import os

import fixtures

from nova_cells import connections
from nova_cells import exception
from nova_cells.db import legacy
from nova_cells.db import migration
from nova_cells.db import migration_lines
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import migration_suite as suite


class TestMigrationLines(base.TestCase):
    """What holds for the lines themselves, whatever the backend."""

    def test_each_line_has_one_base_and_one_head(self):
        for database in (migration.API, migration.MAIN):
            script = migration_lines.script_directory(database)
            self.assertEqual(1, len(script.get_bases()), database)
            self.assertEqual(1, len(script.get_heads()), database)
            self.assertEqual(script.get_current_head(),
                             migration.head(database))

    def test_revision_ids_name_their_line(self):
        for database in (migration.API, migration.MAIN):
            for revision in migration.revisions(database):
                self.assertTrue(revision.startswith(database + '_'),
                                revision)

    def test_first_revision_is_the_one_adoption_stamps(self):
        for database in (migration.API, migration.MAIN):
            self.assertEqual(legacy.LAYOUTS[database].revision,
                             migration.revisions(database)[0])


class TestRefusedBeforeConnecting(base.TestCase):
    """Bad input is refused before any database is created or reached."""

    def setUp(self):
        super().setUp()
        self.directory = os.path.join(self.useFixture(
            fixtures.TempDir()).path, 'not-yet')
        for database, group in suite.GROUPS.items():
            self.flags(group=group, max_retries=1, retry_interval=0,
                       connection='sqlite:///%s/%s.sqlite' % (
                           self.directory, database))
        connections.get_registry().configure(self.conf)
        self.addCleanup(connections.get_registry().dispose_all)

    def test_unknown_database_name(self):
        for database in ('nova', 'cell0', None, ''):
            self.assertRaises(exception.InvalidDatabaseName,
                              migration.db_sync, database=database)
            self.assertRaises(exception.InvalidDatabaseName,
                              migration.db_version, database=database)
        self.assertFalse(os.path.exists(self.directory))

    def test_unknown_revision(self):
        for version in ('bogus', migration.head(migration.MAIN), 'api_000',
                        '3'):
            error = self.assertRaises(exception.InvalidRevision,
                                      migration.db_sync, version,
                                      database=migration.API)
            self.assertIn(migration.head(migration.API), str(error))
        self.assertFalse(os.path.exists(self.directory))

    def test_version_of_a_missing_sqlite_database_creates_nothing(self):
        for database in suite.GROUPS:
            self.assertIsNone(migration.db_version(database=database))
        self.assertFalse(os.path.exists(self.directory))

    def test_percent_in_the_url_is_not_interpolated(self):
        directory = os.path.join(self.directory, '100%% %(here)s %')
        # Not the state directory: a cell's directory must exist already.
        os.makedirs(directory)
        self.flags(group='database',
                   connection='sqlite:///%s/main.sqlite' % directory)
        migration.db_sync(database=migration.MAIN)
        self.assertEqual(migration.head(migration.MAIN),
                         migration.db_version(database=migration.MAIN))

    def test_unreachable_database_is_named_with_its_password_masked(self):
        self.flags(group='api_database', connection=(
            'mysql+pymysql://nova:s3cr%25et@127.0.0.1:1/nova_api'))
        for call in (migration.db_sync, migration.db_version):
            error = self.assertRaises(exception.DatabaseUnreachable, call)
            self.assertNotIn('s3cr', str(error))
            self.assertIn('mysql+pymysql://nova:***@127.0.0.1:1/nova_api',
                          str(error))

    def test_url_whose_driver_is_missing_is_refused_masked(self):
        self.flags(group='database', connection=(
            'postgresql+pg8000://nova:s3cret@db.example.org/nova'))
        error = self.assertRaises(exception.InvalidDatabaseURL,
                                  migration.db_sync, database=migration.MAIN)
        self.assertNotIn('s3cret', str(error))
        self.assertIn("'pg8000' is not installed", str(error))
