"""The API database's migration line on SQLite, MySQL and PostgreSQL:
each revision checked, Nova's legacy API database adopted, a password that
needs escaping in a URL."""

import pprint
import types
import uuid

import sqlalchemy as sa

from nova_cells import context
from nova_cells.db import migration
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.fixtures import legacy_schemas
from nova_cells.tests.fixtures import migration_suite as suite
from nova_cells.tests.fixtures import schema_snapshot as schema


class _ApiChecks:
    DATABASE = migration.API
    REQUIRED_COLUMN = ('instance_mappings', 'user_id')
    #: Nova 34's API database head.
    NOVA_REVISION = 'cdeec0c85668'

    def _check_api_0001_nova_legacy(self, inspector, connection):
        self.assertEqual({'uuid_idx': ('uuid',)},
                         schema.plain_indexes(inspector, 'cell_mappings'))
        self.assertEqual({'host_idx': ('host',)},
                         schema.plain_indexes(inspector, 'host_mappings'))
        self.assertEqual(
            {'instance_uuid_idx': ('instance_uuid',),
             'project_id_idx': ('project_id',),
             'instance_mappings_user_id_project_id_idx': ('user_id',
                                                          'project_id')},
            schema.plain_indexes(inspector, 'instance_mappings'))
        for table in ('host_mappings', 'instance_mappings'):
            self.assertEqual({table + '_cell_id_fkey'},
                             schema.foreign_key_names(inspector, table))
        self.assertTrue(schema.nullable(inspector, 'cell_mappings')[
            'transport_url'])
        # Rows in Nova's shape, for the next revision to keep.
        for table in ('cell_mappings', 'host_mappings',
                      'instance_mappings'):
            connection.execute(
                sa.table(table, *(sa.column(name) for name in
                                  legacy_schemas.API_ROWS[table][0])
                         ).insert(), legacy_schemas.API_ROWS[table])
        connection.commit()

    def _check_api_0002_naming_convention(self, inspector, connection):
        for table in ('cell_mappings', 'host_mappings'):
            self.assertEqual({}, schema.plain_indexes(inspector, table))
        self.assertEqual(
            {'ix_instance_mappings_project_id': ('project_id',),
             'ix_instance_mappings_user_id': ('user_id',),
             'ix_instance_mappings_cell_id': ('cell_id',)},
            schema.plain_indexes(inspector, 'instance_mappings'))
        for table in ('host_mappings', 'instance_mappings'):
            self.assertEqual({'fk_%s_cell_id_cell_mappings' % table},
                             schema.foreign_key_names(inspector, table))
        self.assertEqual({'uniq_cell_mappings0uuid'},
                         schema.unique_names(inspector, 'cell_mappings'))
        columns = schema.nullable(inspector, 'cell_mappings')
        self.assertFalse(columns['transport_url'])
        self.assertFalse(columns['database_connection'])
        if inspector.dialect.name == 'postgresql':
            self.assertEqual('pk_cell_mappings', inspector.get_pk_constraint(
                'cell_mappings')['name'])
        for table in ('cell_mappings', 'host_mappings',
                      'instance_mappings'):
            self.assertRows(connection, table,
                            legacy_schemas.API_ROWS[table])
        # The flags now default to false in the database itself.
        cells = sa.table('cell_mappings', sa.column('id'),
                         sa.column('uuid'), sa.column('transport_url'),
                         sa.column('database_connection'),
                         sa.column('disabled'))
        connection.execute(cells.insert().values(
            id=3, uuid=str(uuid.uuid4()), transport_url='none:///',
            database_connection='sqlite://'))
        self.assertFalse(connection.execute(
            sa.select(cells.c.disabled).where(cells.c.id == 3)).scalar())
        connection.rollback()

    def _check_api_0003_map_instances_markers(self, inspector, connection):
        self.assertEqual(
            {'id', 'cell_id', 'last_instance_id', 'created_at',
             'updated_at'},
            set(schema.nullable(inspector, 'map_instances_markers')))
        self.assertEqual(
            {'fk_map_instances_markers_cell_id_cell_mappings'},
            schema.foreign_key_names(inspector, 'map_instances_markers'))
        self.assertEqual(
            {'uniq_map_instances_markers0cell_id'},
            schema.unique_names(inspector, 'map_instances_markers'))
        self.assertRows(connection, 'cell_mappings',
                        legacy_schemas.API_ROWS['cell_mappings'])

    def _check_api_0004_mapping_generation(self, inspector, connection):
        self.assertEqual({'id': False, 'generation': False},
                         schema.nullable(inspector,
                                         'mapping_cache_generation'))
        # The one row exists from the start, so the first bump updates it.
        self.assertRows(connection, 'mapping_cache_generation',
                        [{'id': 1, 'generation': 0}])

    def _check_adopted(self, before, after):
        # Nova's flavors (not ours) are exactly as they were ...
        self.assertEqual(before['flavors'], after['flavors'])
        self.assertEqual(before['migrate_version'], after['migrate_version'])
        # ... and the mapping tables are exactly this project's layout.
        differences = suite.schema_differences(self.url, self.DATABASE)
        self.assertEqual([], differences, pprint.pformat(differences))

    def test_legacy_cell_without_transport_url_is_refused_unchanged(self):
        rows = dict(legacy_schemas.API_ROWS)
        rows['cell_mappings'] = [dict(rows['cell_mappings'][0],
                                      transport_url=None)]
        rows['host_mappings'] = rows['instance_mappings'] = []
        legacy_schemas.create(self.url, self.DATABASE, rows=rows)
        self.assertRefusedUnchanged('1 row(s) of cell_mappings have no '
                                    'transport_url')

    def test_targeted_context_still_syncs_the_api_database(self):
        cell = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='cell'))
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, types.SimpleNamespace(
            uuid=str(uuid.uuid4()), database_connection=cell.url,
            transport_url='none:///'))
        self.sync(context=ctxt)
        self.assertEqual(self.head, self.version(context=ctxt))
        self.assertEqual([], schema.inspect(
            cell.url, lambda inspector, _c: inspector.get_table_names()))


def _admin_execute(backend: str, statement: str, *parameters,
                   url: str | None = None) -> None:
    """Run one statement as the test servers' administrative user.

    DB-API drivers format every statement, so a literal '%' is written
    '%%' even without parameters.
    """
    engine = schema.engine_for(url or backends.require_backend(
        backend).url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statement, parameters)
    finally:
        engine.dispose()


class _SpecialPasswordTests:
    """A real user whose password needs escaping in a URL (servers only:
    SQLite has no passwords; its '%' case is tested above)."""

    PASSWORD = "p%25 w@rd:/?#%'"

    def _create_user(self, user: str) -> None:
        if self.BACKEND == backends.MYSQL:
            _admin_execute(self.BACKEND, "CREATE USER '%s'@'%%%%' "
                           'IDENTIFIED BY %%s' % user, self.PASSWORD)
            self.addCleanup(_admin_execute, self.BACKEND,
                            "DROP USER '%s'@'%%%%'" % user)
        else:
            _admin_execute(self.BACKEND,
                           'CREATE ROLE %s LOGIN PASSWORD %%s' % user,
                           self.PASSWORD)
            self.addCleanup(_admin_execute, self.BACKEND,
                            'DROP ROLE IF EXISTS %s' % user)

    def _grant(self, user: str, url: str) -> None:
        name = sa.engine.make_url(url).database
        if self.BACKEND == backends.MYSQL:
            _admin_execute(self.BACKEND,
                           "GRANT ALL ON `%s`.* TO '%s'@'%%%%'" % (name, user))
        else:
            _admin_execute(self.BACKEND, 'GRANT ALL ON SCHEMA public TO %s'
                           % user, url=url)

    def test_password_with_url_special_characters(self):
        user = 'nc_%s' % uuid.uuid4().hex[:10]
        # Created before the database, so dropped after it.
        self._create_user(user)
        database_url = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='password')).url
        self._grant(user, database_url)
        url = sa.engine.make_url(database_url).set(
            username=user, password=self.PASSWORD).render_as_string(
                hide_password=False)
        self.assertIn('%25', url)
        self.flags(group=suite.GROUPS[self.DATABASE], connection=url)
        self.sync()
        self.assertEqual(self.head, self.version())
        self.assertIn('cell_mappings', schema.inspect(
            url, lambda inspector, _c: inspector.get_table_names()))


class TestApiMigrations(_ApiChecks, suite.LineTests, base.TestCase):
    pass


class TestApiMigrationsMySQL(base.MySQLMixin, _SpecialPasswordTests,
                             TestApiMigrations):
    pass


class TestApiMigrationsPostgreSQL(base.PostgreSQLMixin, _SpecialPasswordTests,
                                  TestApiMigrations):
    pass
