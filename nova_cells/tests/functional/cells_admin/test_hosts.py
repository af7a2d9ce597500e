"""Host discovery, listing and deletion, in process, on every backend."""

import fixtures

from nova_cells import exception
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import host_mapping as host_mapping_obj
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import builders
from nova_cells.tests.fixtures import database as database_fixture


class TestDiscoverHosts(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        urls = self.cell_database_urls(2)
        self.cell1 = builders.create_cell(self.context, urls[0], 'cell1')
        self.cell2 = builders.create_cell(self.context, urls[1], 'cell2')

    def _nodes(self, cell, *hosts):
        with cell.target(self.context) as cctxt:
            builders.add_compute_nodes(cctxt, *hosts)

    def _unmapped(self, cell):
        with cell.target(self.context) as cctxt:
            return [node.host for node in
                    db_api.compute_node_get_all_unmapped(cctxt)]

    def test_maps_unmapped_nodes_of_every_cell_once(self):
        self._nodes(self.cell1, 'a', 'b')
        self._nodes(self.cell2, 'c')
        cells_admin.map_cell0(self.context, 'sqlite:////nonexistent/c0.db')
        found = hosts_admin.discover_hosts(self.context)
        self.assertEqual(sorted([('a', self.cell1.uuid),
                                 ('b', self.cell1.uuid),
                                 ('c', self.cell2.uuid)]),
                         sorted(found.mapped))
        self.assertEqual([], self._unmapped(self.cell1))
        again = hosts_admin.discover_hosts(self.context)
        self.assertEqual([], again.mapped)
        rows = hosts_admin.list_hosts(self.context)
        self.assertEqual(['a', 'b', 'c'], [row.host for row in rows])
        self.assertEqual(['cell1', 'cell1', 'cell2'],
                         [row.cell_name for row in rows])

    def test_one_cell_only(self):
        self._nodes(self.cell1, 'a')
        self._nodes(self.cell2, 'c')
        found = hosts_admin.discover_hosts(self.context, self.cell2.uuid)
        self.assertEqual([('c', self.cell2.uuid)], found.mapped)
        self.assertEqual(['a'], self._unmapped(self.cell1))
        self.assertRaises(exception.CellMappingNotFound,
                          hosts_admin.discover_hosts, self.context, 'nope')

    def test_by_service(self):
        with self.cell1.target(self.context) as cctxt:
            for host, binary in (('s1', 'nova-compute'),
                                 ('s2', 'nova-conductor')):
                db_api.service_create(cctxt, {'host': host, 'binary': binary,
                                              'topic': binary})
        found = hosts_admin.discover_hosts(self.context, by_service=True)
        self.assertEqual([('s1', self.cell1.uuid)], found.mapped)

    def test_host_mapped_to_another_cell_is_a_conflict(self):
        self._nodes(self.cell1, 'shared')
        hosts_admin.discover_hosts(self.context, self.cell1.uuid)
        self._nodes(self.cell2, 'shared', 'own')
        found = hosts_admin.discover_hosts(self.context, self.cell2.uuid)
        self.assertEqual([('own', self.cell2.uuid)], found.mapped)
        self.assertEqual([hosts_admin.HostConflict(
            'shared', self.cell2.uuid, self.cell1.uuid)], found.conflicts)
        # Left unflagged, so the operator's fix is discovered later.
        self.assertEqual(['shared'], self._unmapped(self.cell2))

    def test_host_mapped_concurrently_counts_as_already_mapped(self):
        """Another run creates the mapping between our lookup and our
        insert: the unique constraint wins, and so does this run."""
        self._nodes(self.cell1, 'racy')
        real = mapping_admin.host_mapping_cells
        calls = []

        def lookup_then_race(ctxt, hosts):
            found = real(ctxt, hosts)
            if not calls:
                calls.append(hosts)
                host_mapping_obj.HostMapping(
                    ctxt, host='racy', cell_mapping=self.cell1).create()
            return found

        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_admin.host_mapping_cells',
            lookup_then_race))
        found = hosts_admin.discover_hosts(self.context)
        self.assertEqual([], found.mapped)
        self.assertEqual(['racy'], found.already_mapped)
        self.assertEqual([], self._unmapped(self.cell1))
        self.assertEqual(1, builders.api_count(self.context,
                                              api_models.HostMapping))

    def test_unreachable_cell_is_reported_and_others_discovered(self):
        self._nodes(self.cell2, 'c')
        cells_admin.update_cell(
            self.context, self.cell1.uuid,
            database_connection='sqlite:////nonexistent/dir/x.db')
        found = hosts_admin.discover_hosts(self.context)
        self.assertEqual([('c', self.cell2.uuid)], found.mapped)
        self.assertEqual([self.cell1.identity],
                         [cell for cell, _ in found.failed_cells])

    def test_cell_without_schema_is_reported_and_others_discovered(self):
        # Reachable but never migrated: the driver's "no such table" is
        # that cell's failure, not the end of the whole run.
        self._nodes(self.cell2, 'c')
        empty = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='unmigrated')).url
        cells_admin.update_cell(self.context, self.cell1.uuid,
                                database_connection=empty)
        found = hosts_admin.discover_hosts(self.context)
        self.assertEqual([('c', self.cell2.uuid)], found.mapped)
        self.assertEqual([self.cell1.identity],
                         [cell for cell, _ in found.failed_cells])


class TestDeleteHost(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        urls = self.cell_database_urls(2)
        self.urls = urls
        self.cell1 = builders.create_cell(self.context, urls[0], 'cell1')
        self.cell2 = builders.create_cell(self.context, urls[1], 'cell2')
        with self.cell1.target(self.context) as cctxt:
            builders.add_compute_nodes(cctxt, 'h1', 'h2')
        hosts_admin.discover_hosts(self.context)

    def test_delete_host_unflags_its_nodes(self):
        hosts_admin.delete_host(self.context, self.cell1.uuid, 'h1')
        self.assertEqual(['h2'], [row.host for row in hosts_admin.list_hosts(
            self.context, self.cell1.uuid)])
        with self.cell1.target(self.context) as cctxt:
            self.assertEqual(['h1'], [node.host for node in
                                      db_api.compute_node_get_all_unmapped(
                                          cctxt)])

    def test_refusals(self):
        builders.add_instances(self.urls[0], 1, host='h2')
        refusals = [
            ('nope', 'h1', exception.CellMappingNotFound),
            (self.cell1.uuid, 'unknown', exception.HostMappingNotFound),
            (self.cell2.uuid, 'h1', exception.HostNotInCell),
            (self.cell1.uuid, 'h2', exception.HostHasInstances),
        ]
        for cell_uuid, host, error in refusals:
            self.assertRaises(error, hosts_admin.delete_host, self.context,
                              cell_uuid, host)
        self.assertEqual(2, len(hosts_admin.list_hosts(self.context)))


class TestDiscoverHostsMySQL(base.MySQLMixin, TestDiscoverHosts):
    pass


class TestDiscoverHostsPostgreSQL(base.PostgreSQLMixin, TestDiscoverHosts):
    pass
