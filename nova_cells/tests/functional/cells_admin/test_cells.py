"""Cell mapping commands, in process, on every backend."""

import types

import fixtures
from oslo_db import exception as db_exception
from oslo_utils import uuidutils

from nova_cells import cell_cache
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import rpc
from nova_cells import scatter_gather
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import builders

RABBIT = 'rabbit://guest:guest@localhost:5672/'


class TestCells(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.urls = self.cell_database_urls(2)
        self.flags(transport_url=RABBIT)

    def test_create_cell_stores_exactly_what_was_given(self):
        cell = cells_admin.create_cell(
            self.context, name='c1', transport_url=RABBIT,
            database_connection=self.urls[0], disabled=True)
        loaded = cells_admin.get_cell(self.context, cell.uuid)
        self.assertEqual(('c1', RABBIT, self.urls[0], True),
                         (loaded.name, loaded.transport_url,
                          loaded.database_connection, loaded.disabled))

    def test_create_cell_defaults_to_local_urls(self):
        cell = cells_admin.create_cell(self.context, name='local')
        self.assertEqual(RABBIT, cell.transport_url)
        self.assertEqual(self.database.main.url, cell.database_connection)

    def test_create_cell_rejects_bad_urls_and_stores_nothing(self):
        self.flags(transport_url=None)
        bad = [
            ({'database_connection': self.urls[0]},
             exception.MissingCellURL),
            ({'transport_url': 'no-scheme', 'database_connection':
              self.urls[0]}, exception.InvalidCellURL),
            ({'transport_url': 'rabbit://u:p@h:port/', 'database_connection':
              self.urls[0]}, exception.InvalidCellURL),
            ({'transport_url': RABBIT, 'database_connection': 'garbage'},
             exception.InvalidCellURL),
            ({'transport_url': RABBIT, 'database_connection': 'sqlite://'},
             exception.InvalidCellURL),
            ({'transport_url': '{scheme}://{username}@h/',
              'database_connection': self.urls[0]},
             exception.CellURLTemplateError),
        ]
        for kwargs, error in bad:
            self.assertRaises(error, cells_admin.create_cell, self.context,
                              name='bad', **kwargs)
        self.assertEqual([], cells_admin.list_cells(self.context))

    def test_database_used_by_another_cell_is_refused(self):
        first = builders.create_cell(self.context, self.urls[0])
        error = self.assertRaises(
            exception.CellDatabaseInUse, cells_admin.create_cell,
            self.context, name='again', transport_url='fake://other/',
            database_connection=self.urls[0])
        self.assertIn(first.uuid, str(error))
        self.assertEqual(1, len(cells_admin.list_cells(self.context)))

    def test_same_database_spelled_differently_is_refused(self):
        cells_admin.create_cell(
            self.context, name='pg', transport_url='fake://pg/',
            database_connection='postgresql+psycopg2://u:pw@127.0.0.1/cells')
        for spelling in ('postgresql://u:other@localhost/cells',
                         'postgresql+psycopg2://u:pw@LOCALHOST:5432/cells'):
            self.assertRaises(
                exception.CellDatabaseInUse, cells_admin.create_cell,
                self.context, name='again', transport_url='fake://x/',
                database_connection=spelling)
        # Another database on the same server is a different cell.
        cells_admin.create_cell(
            self.context, name='pg2', transport_url='fake://pg2/',
            database_connection='postgresql://u:pw@127.0.0.1/cells2')
        self.assertEqual(2, len(cells_admin.list_cells(self.context)))

    def test_password_in_error_is_masked(self):
        error = self.assertRaises(
            exception.InvalidCellURL, cells_admin.create_cell, self.context,
            transport_url='rabbit://u:topsecret@h:notaport/',
            database_connection=self.urls[0])
        self.assertNotIn('topsecret', str(error))

    def test_list_cells_is_sorted_by_name(self):
        builders.create_cell(self.context, self.urls[0], name='b')
        builders.create_cell(self.context, self.urls[1], name='a')
        self.assertEqual(['a', 'b'], [cell.name for cell in
                                      cells_admin.list_cells(self.context)])


class TestMapCell0(base.DatabaseTestCase):

    def test_default_is_local_database_with_cell0_suffix(self):
        cell0, created = cells_admin.map_cell0(self.context)
        self.assertTrue(created)
        main = self.database.main.url
        self.assertEqual(main[:-len('.sqlite')] + '_cell0.sqlite',
                         cell0.database_connection)
        self.assertEqual('none:///', cell0.transport_url)
        self.assertTrue(cell0.is_cell0())

    def test_second_call_returns_existing(self):
        first, _ = cells_admin.map_cell0(self.context, 'sqlite:////x/a.db')
        again, created = cells_admin.map_cell0(self.context,
                                               'sqlite:////x/b.db')
        self.assertFalse(created)
        self.assertEqual('sqlite:////x/a.db', again.database_connection)

    def test_special_characters_in_password_survive(self):
        self.flags(group='database',
                   connection='mysql+pymysql://nova:p%40ss%3Aw%2Fd%25@db/nova'
                              '?charset=utf8')
        cell0, _ = cells_admin.map_cell0(self.context)
        self.assertEqual('mysql+pymysql://nova:p%40ss%3Aw%2Fd%25@db/'
                         'nova_cell0?charset=utf8', cell0.database_connection)

    def test_invalid_url_is_refused(self):
        self.assertRaises(exception.InvalidCellURL, cells_admin.map_cell0,
                          self.context, 'garbage')
        self.assertEqual([], cells_admin.list_cells(self.context))


class TestUpdateCell(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.urls = self.cell_database_urls(2)
        self.cell = builders.create_cell(self.context, self.urls[0],
                                        transport_url=RABBIT)

    def test_only_given_properties_change(self):
        # Nova would write the local URLs into the cell here.
        self.flags(transport_url='rabbit://local:local@here/')
        cells_admin.update_cell(self.context, self.cell.uuid, name='renamed')
        cell = cells_admin.get_cell(self.context, self.cell.uuid)
        self.assertEqual(('renamed', RABBIT, self.urls[0]),
                         (cell.name, cell.transport_url,
                          cell.database_connection))

    def test_url_change_disposes_the_old_facade(self):
        with self.cell.target(self.context) as cctxt:
            db_api.instance_count(cctxt)
        registry = connections.get_registry()
        self.assertEqual(1, registry.facade_count())
        cells_admin.update_cell(self.context, self.cell.uuid,
                                database_connection=self.urls[1])
        self.assertEqual(0, registry.facade_count())
        self.assertEqual(self.urls[1], cells_admin.get_cell(
            self.context, self.cell.uuid).database_connection)

    def test_url_change_keeps_a_transport_another_cell_shares(self):
        # Cells stored before queues were checked may share one: moving
        # one of them must not tear down the transport the other uses.
        other = cells_admin.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='c2',
            transport_url=RABBIT, database_connection=self.urls[1])
        other.create()  # as stored then: the commands refuse it now
        registry = connections.get_registry()
        key = registry.transport_key(RABBIT)
        shared = registry.transport(key)
        cells_admin.update_cell(self.context, self.cell.uuid,
                                transport_url='fake://elsewhere/')
        self.assertIs(shared, registry.transport(key))
        # (A queue another cell uses is refused: each moves elsewhere.)
        cells_admin.update_cell(self.context, other.uuid,
                                transport_url='fake://elsewhere-too/')
        self.assertIsNot(shared, registry.transport(key))

    def test_url_change_keeps_the_default_transport(self):
        # The cell was created with this node's own transport URL.
        self.flags(transport_url=RABBIT)
        rpc.init(connections.get_registry().conf)
        self.addCleanup(rpc.cleanup)
        default = rpc.get_transport()
        cells_admin.update_cell(self.context, self.cell.uuid,
                                transport_url='fake://elsewhere/')
        self.assertIs(default, rpc.get_transport())

    def test_url_change_reaches_the_all_cells_fan_out_at_once(self):
        self.flags(group='cells', cell_cache_ttl=300)
        cell_cache.CELL_CACHE.invalidate()
        self.addCleanup(cell_cache.CELL_CACHE.invalidate)

        def database_url(cctxt):
            return connections.get_registry().url_for_key(
                cctxt.db_connection)

        outcomes = scatter_gather.scatter_gather_all_cells(
            nova_context.get_admin_context(), database_url)
        self.assertEqual(self.urls[0], outcomes[self.cell.uuid])
        cells_admin.update_cell(self.context, self.cell.uuid,
                                database_connection=self.urls[1])
        outcomes = scatter_gather.scatter_gather_all_cells(
            nova_context.get_admin_context(), database_url)
        self.assertEqual(self.urls[1], outcomes[self.cell.uuid])

    def test_refusals_change_nothing(self):
        other = builders.create_cell(self.context, self.urls[1], name='c2')
        cell0, _ = cells_admin.map_cell0(self.context, 'sqlite:////x/c0.db')
        refusals = [
            ({'cell_uuid': other.uuid, 'database_connection': self.urls[0],
              'name': 'x'}, exception.CellDatabaseInUse),
            ({'cell_uuid': other.uuid, 'transport_url': 'junk',
              'name': 'x'}, exception.InvalidCellURL),
            ({'cell_uuid': other.uuid, 'disable': True, 'enable': True},
             exception.InvalidCellState),
            ({'cell_uuid': cell0.uuid, 'disable': True},
             exception.Cell0StateChange),
            ({'cell_uuid': 'no-such-cell', 'name': 'x'},
             exception.CellMappingNotFound),
        ]
        for kwargs, error in refusals:
            self.assertRaises(error, cells_admin.update_cell, self.context,
                              **kwargs)
        reloaded = cells_admin.get_cell(self.context, other.uuid)
        self.assertEqual(('c2', self.urls[1], False),
                         (reloaded.name, reloaded.database_connection,
                          reloaded.disabled))

    def test_disable_and_enable(self):
        cells_admin.update_cell(self.context, self.cell.uuid, disable=True)
        self.assertTrue(cells_admin.get_cell(self.context,
                                             self.cell.uuid).disabled)
        update = cells_admin.update_cell(self.context, self.cell.uuid,
                                         disable=True)
        self.assertEqual([], update.changed)
        self.assertEqual(1, len(update.notes))
        cells_admin.update_cell(self.context, self.cell.uuid, enable=True)
        self.assertFalse(cells_admin.get_cell(self.context,
                                              self.cell.uuid).disabled)


class TestDeleteCell(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.url = self.cell_database_urls(1)[0]
        self.cell = builders.create_cell(self.context, self.url)

    def _map_host(self, host='host1'):
        with self.cell.target(self.context) as cctxt:
            builders.add_compute_nodes(cctxt, host)
        hosts_admin.discover_hosts(self.context, self.cell.uuid)

    def _deleted_cells_database(self):
        """The deleted cell's database, targeted by URL: the cell itself
        is refused once this process has seen it deleted."""
        return nova_context.target_cell(self.context, types.SimpleNamespace(
            uuid=self.cell.uuid, database_connection=self.url,
            transport_url=None))

    def test_empty_cell_is_deleted(self):
        cells_admin.delete_cell(self.context, self.cell.uuid)
        self.assertRaises(exception.CellMappingNotFound,
                          cells_admin.get_cell, self.context, self.cell.uuid)

    def test_unknown_cell(self):
        self.assertRaises(exception.CellMappingNotFound,
                          cells_admin.delete_cell, self.context, 'nope')

    def test_hosts_need_force_and_nodes_are_unmapped(self):
        self._map_host()
        self.assertRaises(exception.CellHasHosts, cells_admin.delete_cell,
                          self.context, self.cell.uuid)
        cells_admin.delete_cell(self.context, self.cell.uuid, force=True)
        self.assertEqual(0, builders.api_count(self.context,
                                              api_models.HostMapping))
        with self._deleted_cells_database() as cctxt:
            self.assertEqual(1, len(db_api.compute_node_get_all_unmapped(
                cctxt)))

    def test_live_instances_block_even_with_force(self):
        builders.add_instances(self.url, 2)
        instances_admin.map_instances(self.context, self.cell.uuid)
        self.assertRaises(exception.CellHasInstances, cells_admin.delete_cell,
                          self.context, self.cell.uuid, force=True)
        self.assertEqual(2, builders.api_count(self.context,
                                              api_models.InstanceMapping))

    def test_mappings_of_deleted_instances_need_force(self):
        builders.add_instances(self.url, 3, deleted=1)
        # A resume point left by an interrupted run goes with the cell.
        instances_admin.map_instances(self.context, self.cell.uuid,
                                      max_count=1, batch_size=1)
        self.assertEqual(1, builders.api_count(
            self.context, api_models.MapInstancesMarker))
        self.assertRaises(exception.CellHasInstanceMappings,
                          cells_admin.delete_cell, self.context,
                          self.cell.uuid, force=False)
        self._map_host()
        self.assertRaises(exception.CellHasHosts, cells_admin.delete_cell,
                          self.context, self.cell.uuid)
        cells_admin.delete_cell(self.context, self.cell.uuid, force=True)
        for model in (api_models.InstanceMapping, api_models.HostMapping,
                      api_models.MapInstancesMarker, api_models.CellMapping):
            self.assertEqual(0, builders.api_count(self.context, model),
                             model.__tablename__)

    def _count_then(self, concurrent_change):
        """Make delete_cell's first count run ``concurrent_change`` right
        after it, as another process could between check and delete."""
        real_count = mapping_admin._count_mappings
        calls = []

        def count(session, cell_id):
            counts = real_count(session, cell_id)
            if not calls:
                calls.append(cell_id)
                concurrent_change()
            return counts
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_admin._count_mappings', count))

    def test_host_mapped_during_forced_delete_is_not_orphaned(self):
        with self.cell.target(self.context) as cctxt:
            builders.add_compute_nodes(cctxt, 'host1')
        self._count_then(lambda: hosts_admin.discover_hosts(
            nova_context.get_admin_context(), self.cell.uuid))
        cells_admin.delete_cell(self.context, self.cell.uuid, force=True)
        self.assertEqual(0, builders.api_count(self.context,
                                              api_models.HostMapping))
        # Its node can be discovered into another cell, as after any
        # forced delete.
        with self._deleted_cells_database() as cctxt:
            self.assertEqual(1, len(db_api.compute_node_get_all_unmapped(
                cctxt)))

    def test_live_instance_mapped_during_forced_delete_blocks_it(self):
        builders.add_instances(self.url, 1)
        self._count_then(lambda: instances_admin.map_instances(
            nova_context.get_admin_context(), self.cell.uuid))
        self.assertRaises(exception.CellHasInstances,
                          cells_admin.delete_cell, self.context,
                          self.cell.uuid, force=True)
        self.assertEqual(1, builders.api_count(self.context,
                                              api_models.InstanceMapping))
        self.assertEqual(1, builders.api_count(self.context,
                                              api_models.CellMapping))

    def test_cell0_needs_its_own_flag(self):
        cell0, _ = cells_admin.map_cell0(self.context, 'sqlite:////x/c0.db')
        self.assertRaises(exception.Cell0DeletionRefused,
                          cells_admin.delete_cell, self.context, cell0.uuid,
                          force=True)
        cells_admin.delete_cell(self.context, cell0.uuid, force_cell0=True)
        self.assertEqual(1, builders.api_count(self.context,
                                              api_models.CellMapping))

    def test_delete_is_all_or_nothing(self):
        self._map_host()
        builders.add_instances(self.url, 2, deleted=1)
        instances_admin.map_instances(self.context, self.cell.uuid)
        # Forget the host mappings: the instance mappings are deleted,
        # then deleting the cell fails on the host mappings' foreign key.
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_admin.CELL_OWNED_MODELS',
            (api_models.InstanceMapping,)))
        self.assertRaises(db_exception.DBError, cells_admin.delete_cell,
                          self.context, self.cell.uuid, force=True)
        self.assertEqual(2, builders.api_count(self.context,
                                              api_models.InstanceMapping))
        self.assertEqual(1, builders.api_count(self.context,
                                              api_models.CellMapping))


class TestDeleteCellMySQL(base.MySQLMixin, TestDeleteCell):
    pass


class TestDeleteCellPostgreSQL(base.PostgreSQLMixin, TestDeleteCell):
    pass
