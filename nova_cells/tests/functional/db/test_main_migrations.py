"""A cell's main database migration line on SQLite, MySQL and
PostgreSQL: each revision checked, Nova's legacy main database adopted with
nothing of Nova's dropped, a targeted context migrating that cell."""

import types
import uuid

import sqlalchemy as sa

from nova_cells import context
from nova_cells.db import legacy
from nova_cells.db import migration
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.fixtures import legacy_schemas
from nova_cells.tests.fixtures import migration_suite as suite
from nova_cells.tests.fixtures import schema_snapshot as schema


class _MainChecks:
    DATABASE = migration.MAIN
    REQUIRED_COLUMN = ('compute_nodes', 'mapped')
    #: Nova 34's main database head.
    NOVA_REVISION = 'ab450ba04102'

    def _check_main_0001_nova_legacy(self, inspector, connection):
        for table in legacy.MAIN_LAYOUT.tables:
            self.assertEqual(set(table.columns), set(
                schema.nullable(inspector, table.name)), table.name)
            self.assertEqual({}, schema.plain_indexes(inspector, table.name))
        self.assertEqual({'uniq_instances0uuid'},
                         schema.unique_names(inspector, 'instances'))
        self.assertEqual(
            {'uniq_compute_nodes0host0hypervisor_hostname0deleted'},
            schema.unique_names(inspector, 'compute_nodes'))
        self.assertEqual({'uniq_services0host0topic0deleted',
                          'uniq_services0host0binary0deleted'},
                         schema.unique_names(inspector, 'services'))
        # Rows in Nova's shape, for the next revision to keep.
        for table in ('instances', 'compute_nodes', 'services'):
            rows = self._our_columns(table, legacy_schemas.MAIN_ROWS[table])
            connection.execute(sa.table(table, *(
                sa.column(name) for name in rows[0])).insert(), rows)
        connection.commit()

    @staticmethod
    def _our_columns(table, rows):
        """``rows`` less the columns of Nova's that this line never made."""
        columns = {legacy_table.name: legacy_table.columns
                   for legacy_table in legacy.MAIN_LAYOUT.tables}[table]
        return [{column: value for column, value in row.items()
                 if column in columns} for row in rows]

    def _check_main_0002_project_indexes(self, inspector, connection):
        self.assertEqual(
            {'ix_instances_project_id_deleted': ('project_id', 'deleted'),
             'ix_instances_host_node_deleted': ('host', 'node', 'deleted'),
             'ix_instances_created_at': ('created_at',)},
            schema.plain_indexes(inspector, 'instances'))
        self.assertIn('uniq_compute_nodes0uuid',
                      schema.unique_names(inspector, 'compute_nodes'))
        self.assertIn('uniq_services0uuid',
                      schema.unique_names(inspector, 'services'))
        for table in ('instances', 'compute_nodes', 'services'):
            self.assertRows(connection, table, self._our_columns(
                table, legacy_schemas.MAIN_ROWS[table]))

    def _check_main_0003_display_name_index(self, inspector, connection):
        self.assertEqual(('display_name',), schema.plain_indexes(
            inspector, 'instances')['ix_instances_display_name'])
        self.assertRows(connection, 'instances', self._our_columns(
            'instances', legacy_schemas.MAIN_ROWS['instances']))

    def _check_adopted(self, before, after):
        """Only our own index is added: no column, table or index of Nova's
        is dropped, renamed or duplicated."""
        added = {}
        for table in before:
            self.assertEqual(before[table]['columns'],
                             after[table]['columns'], table)
            self.assertEqual(before[table]['foreign_keys'],
                             after[table]['foreign_keys'], table)
            old = set(before[table]['indexes'])
            self.assertEqual(set(), old - set(after[table]['indexes']))
            new = set(after[table]['indexes']) - old
            if new:
                added[table] = new
        self.assertEqual(
            {'instances': {('ix_instances_created_at', ('created_at',),
                            False),
                           ('ix_instances_display_name', ('display_name',),
                            False)}}, added)

    def test_targeted_context_syncs_the_cells_database(self):
        cell = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='cell'))
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, types.SimpleNamespace(
            uuid=str(uuid.uuid4()), database_connection=cell.url,
            transport_url='none:///'))
        self.sync(context=ctxt)
        self.assertEqual(self.head, self.version(context=ctxt))
        self.assertIsNone(self.version())
        self.assertEqual([], schema.inspect(
            self.url, lambda inspector, _c: inspector.get_table_names()))


class TestMainMigrations(_MainChecks, suite.LineTests, base.TestCase):
    pass


class TestMainMigrationsMySQL(base.MySQLMixin, TestMainMigrations):
    pass


class TestMainMigrationsPostgreSQL(base.PostgreSQLMixin,
                                   TestMainMigrations):
    pass
