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
    def _store_revision(self, revision, table=None):
        def update(_inspector, connection):
            version = sa.table(table or self.version_table,
                               sa.column('version_num'))
            connection.execute(version.update().values(version_num=revision))
            connection.commit()
        schema.inspect(self.url, update)

    @property
    def version_table(self):
        return migration.VERSION_TABLES[self.DATABASE]

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
            set(METADATA[self.DATABASE].tables) | {self.version_table})
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



    # -- databases that recorded this line's revision in alembic_version --
    def _record_in_alembic_version(self, revision, keep_version_table=False):
        """The database as an earlier release of nova_cells left it."""
        def move_back(_inspector, connection):
            connection.exec_driver_sql(
                'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT '
                'NULL PRIMARY KEY)')
            table = sa.table('alembic_version', sa.column('version_num'))
            connection.execute(table.insert().values(version_num=revision))
            if not keep_version_table:
                connection.exec_driver_sql('DROP TABLE ' + self.version_table)
            connection.commit()
        schema.inspect(self.url, move_back)

    def test_revision_in_alembic_version_moves_to_the_version_table(self):
        first = migration.revisions(self.DATABASE)[0]
        self.sync(first)
        self._record_in_alembic_version(first)
        self.assertEqual(first, self.version())
        self.sync()
        self.assertEqual(self.head, self.version())
        tables = schema.inspect(self.url, lambda inspector, _c: set(
            inspector.get_table_names()))
        self.assertNotIn('alembic_version', tables)
        self.assertIn(self.version_table, tables)
        self.assertEqual([], schema_differences(self.url, self.DATABASE))
        before = schema.snapshot(self.url)
        self.sync()
        self.assertEqual(before, schema.snapshot(self.url))

    def test_move_cut_short_by_mysql_ddl_is_finished(self):
        self.sync()
        self._record_in_alembic_version(self.head, keep_version_table=True)
        self.sync()
        tables = schema.inspect(self.url, lambda inspector, _c: set(
            inspector.get_table_names()))
        self.assertNotIn('alembic_version', tables)
        self.assertEqual(self.head, self.version())

    def test_several_revisions_in_alembic_version_are_refused(self):
        first = migration.revisions(self.DATABASE)[0]
        self.sync(first)
        self._record_in_alembic_version(first)
        schema.inspect(self.url, lambda _inspector, connection: (
            connection.execute(sa.table(
                'alembic_version', sa.column('version_num')).insert().values(
                    version_num='cdeec0c85668')), connection.commit()))
        self.assertRefusedUnchanged('refusing to guess which is current')

    # -- databases Nova's alembic line manages ---------------------------
    NOVA_REVISION = None

    def _nova_alembic_database(self, omit=frozenset()):
        """What Nova's alembic line leaves: the same tables as the
        legacy layout, Nova's revision in alembic_version instead of a
        migrate_version table."""
        legacy_schemas.create(self.url, self.DATABASE, omit=omit)

        def to_alembic(_inspector, connection):
            connection.exec_driver_sql('DROP TABLE migrate_version')
            connection.exec_driver_sql(
                'CREATE TABLE alembic_version (version_num VARCHAR(32) NOT '
                'NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY '
                '(version_num))')
            connection.execute(sa.table(
                'alembic_version', sa.column('version_num')).insert().values(
                    version_num=self.NOVA_REVISION))
            connection.commit()
        schema.inspect(self.url, to_alembic)

    def test_nova_alembic_database_is_adopted_adding_only_our_own(self):
        self._nova_alembic_database()
        self.assertIsNone(self.version())
        before = schema.snapshot(self.url)
        self.sync()
        self.assertEqual(self.head, self.version())
        after = schema.snapshot(self.url)
        assert_only_own_objects_added(self, before, after, self.DATABASE)
        self.assertEqual(before['alembic_version'], after['alembic_version'])
        # Synced again, and with the other line's version table beside it:
        # nothing changes.
        self.sync()
        self.assertEqual(after, schema.snapshot(self.url))

    def test_nova_alembic_database_missing_a_column_is_refused(self):
        table, column = self.REQUIRED_COLUMN
        self._nova_alembic_database(omit={(table, column)})
        error = self.assertRefusedUnchanged('table %s has no column %s' % (
            table, column))
        self.assertIn(self.NOVA_REVISION, str(error))
        self.assertIsNone(self.version())

    def test_nova_alembic_database_of_the_other_kind_is_refused(self):
        other = migration.MAIN if self.DATABASE == migration.API else (
            migration.API)
        legacy_schemas.create(self.url, other)
        schema.inspect(self.url, lambda _inspector, connection: (
            connection.exec_driver_sql('DROP TABLE migrate_version'),
            connection.exec_driver_sql(
                'CREATE TABLE alembic_version (version_num VARCHAR(32) '
                'NOT NULL PRIMARY KEY)'),
            connection.commit()))
        error = self.assertRefusedUnchanged('tables do not hold')
        for table in legacy.LAYOUTS[self.DATABASE].table_names:
            self.assertIn('table %s is missing' % table, str(error))


#: Prefixes of the names this project gives its own indexes and
#: constraints (model_base.NAMING_CONVENTION); Nova names its indexes
#: ``<table>_<column>..._idx`` and never starts one with these.
OWN_INDEX_PREFIXES = ('ix_', 'fk_', 'pk_')


def assert_only_own_objects_added(test, before: dict, after: dict,
                                  database: str) -> None:
    """Nothing of ``before`` (a Nova database) changed in ``after``: no
    table, column, index, constraint or row of Nova's dropped, renamed or
    altered. What was added is this project's own: tables of its models
    or its version table, and indexes named by its convention."""
    for table, shape in before.items():
        test.assertIn(table, after)
        for part in ('columns', 'unique', 'foreign_keys', 'rows'):
            test.assertEqual(shape[part], after[table][part],
                             '%s of %s' % (part, table))
        test.assertEqual(set(), set(shape['indexes']) - set(
            after[table]['indexes']), 'indexes of %s' % table)
        for name, _columns, _unique in (set(after[table]['indexes']) -
                                        set(shape['indexes'])):
            test.assertTrue(name.startswith(OWN_INDEX_PREFIXES),
                            'index %s added to %s' % (name, table))
    own_tables = set(METADATA[database].tables) | {
        migration.VERSION_TABLES[database]}
    test.assertLessEqual(set(after) - set(before), own_tables)
