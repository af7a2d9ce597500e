"""HostMapping and HostMappingList against real API databases."""

from nova_cells import exception
from nova_cells import objects
from nova_cells.db.sqlalchemy import api_models
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import mappings

HM = api_models.HostMapping


class TestHostMapping(mappings.ClassDatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.cell1 = mappings.create_cell(self.context, name='cell1')
        self.cell2 = mappings.create_cell(self.context, name='cell2')

    def map_host(self, host, cell):
        mapping = objects.HostMapping(self.context, host=host,
                                      cell_mapping=cell)
        mapping.create()
        return mapping

    def test_create_and_get_by_host_with_its_cell(self):
        created = self.map_host('compute1', self.cell1)
        self.assertIsNotNone(created.id)
        self.assertEqual(set(), created.obj_what_changed())
        counter = self.useFixture(mappings.SelectCounter())
        found = objects.HostMapping.get_by_host(self.context, 'compute1')
        self.assertEqual(1, counter.count)
        self.assertEqual((created.id, 'compute1'), (found.id, found.host))
        self.assertEqual(self.cell1.obj_to_primitive(),
                         found.cell_mapping.obj_to_primitive())

    def test_get_unknown_host(self):
        error = self.assertRaises(exception.HostMappingNotFound,
                                  objects.HostMapping.get_by_host,
                                  self.context, 'nowhere')
        self.assertIn('nowhere', str(error))

    def test_duplicate_host_is_refused_and_nothing_changes(self):
        self.map_host('compute1', self.cell1)
        error = self.assertRaises(exception.HostMappingExists,
                                  self.map_host, 'compute1', self.cell2)
        self.assertIn('compute1', str(error))
        self.assertEqual(1, mappings.count_rows(HM))
        self.assertEqual(self.cell1.uuid, objects.HostMapping.get_by_host(
            self.context, 'compute1').cell_mapping.uuid)

    def test_create_without_cell_touches_nothing(self):
        mapping = objects.HostMapping(self.context, host='compute1')
        self.assertRaises(exception.ObjectActionError, mapping.create)
        uncreated = objects.CellMapping(self.context, name='new')
        mapping.cell_mapping = uncreated
        self.assertRaises(exception.ObjectActionError, mapping.create)
        self.assertEqual(0, mappings.count_rows(HM))

    def test_create_in_a_deleted_cell(self):
        doomed = mappings.create_cell(self.context, name='doomed')
        doomed.destroy()
        self.assertRaises(exception.CellMappingNotFound, self.map_host,
                          'compute1', doomed)
        self.assertEqual(0, mappings.count_rows(HM))

    def test_save_moves_the_host(self):
        mapping = self.map_host('compute1', self.cell1)
        mapping.cell_mapping = self.cell2
        mapping.save()
        self.assertEqual(self.cell2.uuid, mapping.cell_mapping.uuid)
        self.assertEqual(self.cell2.uuid, objects.HostMapping.get_by_host(
            self.context, 'compute1').cell_mapping.uuid)

    def test_rename_onto_a_mapped_host_is_refused(self):
        self.map_host('compute1', self.cell1)
        second = self.map_host('compute2', self.cell2)
        second.host = 'compute1'
        self.assertRaises(exception.HostMappingExists, second.save)
        self.assertEqual(self.cell2.uuid, objects.HostMapping.get_by_host(
            self.context, 'compute2').cell_mapping.uuid)

    def test_save_after_delete(self):
        mapping = self.map_host('compute1', self.cell1)
        objects.HostMapping(self.context, host='compute1').destroy()
        mapping.cell_mapping = self.cell2
        self.assertRaises(exception.HostMappingNotFound, mapping.save)

    def test_destroy(self):
        mapping = self.map_host('compute1', self.cell1)
        mapping.destroy()
        self.assertEqual(0, mappings.count_rows(HM))
        self.assertRaises(exception.HostMappingNotFound, mapping.destroy)

    def test_lists(self):
        self.map_host('b', self.cell2)
        self.map_host('a', self.cell1)
        self.map_host('c', self.cell2)
        everything = objects.HostMappingList.get_all(self.context)
        self.assertEqual(['b', 'a', 'c'], [m.host for m in everything])
        self.assertEqual([self.cell2.uuid, self.cell1.uuid, self.cell2.uuid],
                         [m.cell_mapping.uuid for m in everything])
        in_cell2 = objects.HostMappingList.get_by_cell_id(self.context,
                                                          self.cell2.id)
        self.assertEqual(['b', 'c'], [m.host for m in in_cell2])
        self.assertEqual([], list(objects.HostMappingList.get_by_cell_id(
            self.context, self.cell2.id + 100)))


class TestHostMappingMySQL(base.MySQLMixin, TestHostMapping):
    pass


class TestHostMappingPostgreSQL(base.PostgreSQLMixin, TestHostMapping):
    pass
