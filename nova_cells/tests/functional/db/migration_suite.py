"""What every migration line is tested for, written once.

:class:`LineTests` runs against one line (``DATABASE``) on one backend
(``BACKEND``); the line's test module adds a ``_check_<revision>`` per
revision and ``_check_adopted``, then runs the whole on SQLite, MySQL and
PostgreSQL through subclasses that only name the backend.
"""

import pprint

import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration as alembic_migration

from nova_cells import connections
from nova_cells import exception
from nova_cells.db import legacy
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.functional.db import legacy_schemas
from nova_cells.tests.functional.db import schema_snapshot as schema

GROUPS = {migration.API: 'api_database', migration.MAIN: 'database'}
METADATA = {migration.API: api_models.ApiBase.metadata,
            migration.MAIN: models.MainBase.metadata}


def _as_boolean_text(default: str) -> str:
    text = default.strip("()'\" ").lower()
    return {'0': 'false', '1': 'true'}.get(text, text)


def _compare_server_default(_context, _inspected_column, metadata_column,
                            inspected_default, _metadata_default,
                            rendered_metadata_default):
    """MySQL reports a boolean default as '0'; the models say false()."""
    if (isinstance(metadata_column.type, sa.Boolean) and
            inspected_default is not None and
            rendered_metadata_default is not None):
        return (_as_boolean_text(inspected_default) !=
                _as_boolean_text(rendered_metadata_default))
    return None


def schema_differences(url: str, database: str) -> list:
    """What alembic autogenerate would change to reach the models."""
    metadata = METADATA[database]

    def owned(_object, name, type_, _reflected, _compare_to):
        return type_ != 'table' or name in metadata.tables

    def compare(inspector, connection):
        context_ = alembic_migration.MigrationContext.configure(
            connection, opts={
                'compare_type': True,
                'compare_server_default': _compare_server_default,
                'include_object': owned})
        return autogenerate.compare_metadata(context_, metadata)

    return schema.inspect(url, compare)


class LineTests:
    """Tests of one line (``DATABASE``) on one backend (``BACKEND``)."""

    BACKEND = backends.SQLITE
    DATABASE = None
    #: (table, column) a legacy database must have; its absence is refused.
    REQUIRED_COLUMN = None

    def setUp(self):
        super().setUp()
        self.url = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name=self.DATABASE)).url
        self.flags(group=GROUPS[self.DATABASE], connection=self.url)
        for group in GROUPS.values():
            self.flags(group=group, max_retries=1, retry_interval=0)
        registry = connections.get_registry()
        registry.configure(self.conf)
        self.addCleanup(registry.dispose_all)
        self.head = migration.head(self.DATABASE)

    def sync(self, version=None, **kwargs):
        migration.db_sync(version, database=self.DATABASE, **kwargs)

    def version(self, **kwargs):
        return migration.db_version(database=self.DATABASE, **kwargs)

    def assertRefusedUnchanged(self, expected_text, version=None):
        before = schema.snapshot(self.url)
        error = self.assertRaises(exception.DatabaseMigrationError,
                                  self.sync, version)
        self.assertIn(expected_text, str(error))
        self.assertIn('Nothing was changed', str(error))
        self.assertEqual(before, schema.snapshot(self.url))
        return error

    def assertRows(self, connection, table, expected):
        found = {row['id']: row for row in schema.rows(connection, table)}
        for row in expected:
            stored = found[row['id']]
            for column, value in row.items():
                if isinstance(value, bool):
                    self.assertEqual(value, bool(stored[column]), column)
                else:
                    self.assertEqual(value, stored[column], column)

    # -- every revision, one at a time ---------------------------------
    def test_walk_every_revision_with_a_check_each(self):
        self.assertIsNone(self.version())
        for revision in migration.revisions(self.DATABASE):
            self.sync(revision)
            self.assertEqual(revision, self.version())
            check = getattr(self, '_check_' + revision)
            schema.inspect(self.url, check)

    def test_every_revision_has_a_check(self):
        for revision in migration.revisions(self.DATABASE):
            self.assertTrue(hasattr(self, '_check_' + revision),
                            'write _check_%s' % revision)

    def test_models_match_migrations(self):
        self.sync()
        differences = schema_differences(self.url, self.DATABASE)
        self.assertEqual([], differences, pprint.pformat(differences))

    # -- sync and version ----------------------------------------------
    def test_version_is_head_after_sync(self):
        self.assertIsNone(self.version())
        self.sync()
        self.assertEqual(self.head, self.version())

    def test_sync_twice_changes_nothing(self):
        self.sync()
        before = schema.snapshot(self.url)
        self.sync()
        self.sync(self.head)
        self.assertEqual(before, schema.snapshot(self.url))
        self.assertEqual(self.head, self.version())

    def test_revision_prefix_is_accepted(self):
        first = migration.revisions(self.DATABASE)[0]
        self.sync(first[:len(self.DATABASE) + 5])
        self.assertEqual(first, self.version())

    def test_downgrade_is_refused(self):
        self.sync()
        first = migration.revisions(self.DATABASE)[0]
        error = self.assertRaises(exception.DowngradeNotSupported,
                                  self.sync, first)
        self.assertIn(self.head, str(error))
        self.assertEqual(self.head, self.version())

    # -- databases this project will not touch -------------------------
    def _store_revision(self, revision):
        def update(_inspector, connection):
            table = sa.table('alembic_version', sa.column('version_num'))
            connection.execute(table.update().values(version_num=revision))
            connection.commit()
        schema.inspect(self.url, update)

    def test_unknown_revision_is_refused_unchanged(self):
        self.sync()
        self._store_revision('ffffffff_from_the_future')
        self.assertRefusedUnchanged('ffffffff_from_the_future')
        self.assertEqual('ffffffff_from_the_future', self.version())

    def test_other_lines_revision_is_refused_unchanged(self):
        self.sync()
        other = migration.MAIN if self.DATABASE == migration.API else (
            migration.API)
        self._store_revision(migration.head(other))
        self.assertRefusedUnchanged('is this the right database?')

    def test_tables_without_a_revision_are_refused_unchanged(self):
        database_fixture.create_schema(self.url, self.DATABASE)
        self.assertRefusedUnchanged('records no schema revision')

    # -- adoption of Nova's legacy databases ---------------------------
    def test_first_revision_passes_the_adoption_check(self):
        """What revision 1 builds is what adoption accepts, so stamping a
        Nova database at revision 1 tells the truth."""
        self.sync(migration.revisions(self.DATABASE)[0])
        problems = schema.inspect(self.url, lambda _inspector, connection: (
            connection.exec_driver_sql(
                'CREATE TABLE migrate_version (repository_id '
                'VARCHAR(250))'),
            legacy.find_problems(connection, self.DATABASE))[1])
        self.assertEqual([], problems)

    def test_legacy_database_is_adopted_with_every_row(self):
        legacy_schemas.create(self.url, self.DATABASE)
        before = schema.snapshot(self.url)
        self.sync()
        self.assertEqual(self.head, self.version())
        after = schema.snapshot(self.url)
        # Nothing dropped; new tables are only this line's own.
        self.assertEqual(set(), set(before) - set(after))
        self.assertLessEqual(
            set(after) - set(before),
            set(METADATA[self.DATABASE].tables) | {'alembic_version'})
        for table in before:
            self.assertEqual(before[table]['rows'], after[table]['rows'],
                             table)
        self._check_adopted(before, after)

    def test_legacy_database_missing_a_column_is_refused_unchanged(self):
        table, column = self.REQUIRED_COLUMN
        legacy_schemas.create(self.url, self.DATABASE,
                              omit={(table, column)})
        self.assertRefusedUnchanged('table %s has no column %s' % (
            table, column))
        self.assertIsNone(self.version())

    def test_legacy_database_of_the_other_kind_is_refused_unchanged(self):
        other = migration.MAIN if self.DATABASE == migration.API else (
            migration.API)
        legacy_schemas.create(self.url, other)
        error = self.assertRefusedUnchanged('migrate_version names '
                                            'repository')
        for table in legacy.LAYOUTS[self.DATABASE].table_names:
            self.assertIn('table %s is missing' % table, str(error))


