"""CellMapping and CellMappingList against real API databases."""

from oslo_utils import uuidutils

from nova_cells import exception
from nova_cells import objects
from nova_cells.db.sqlalchemy import api_models
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import mappings


class TestCellMapping(mappings.ClassDatabaseTestCase):

    def test_create_and_get_by_uuid(self):
        created = mappings.create_cell(self.context, disabled=True)
        self.assertIsNotNone(created.id)
        self.assertTrue(uuidutils.is_uuid_like(created.uuid))
        self.assertEqual(set(), created.obj_what_changed())
        found = objects.CellMapping.get_by_uuid(self.context, created.uuid)
        self.assertEqual(created.obj_to_primitive(),
                         found.obj_to_primitive())
        self.assertTrue(found.disabled)
        self.assertIsNotNone(found.created_at)
        self.assertIs(self.context, found._context)

    def test_create_keeps_a_given_uuid_and_defaults(self):
        cell = mappings.create_cell(self.context, uuid=objects.CELL0_UUID)
        self.assertTrue(cell.is_cell0())
        self.assertFalse(cell.disabled)

    def test_get_by_unknown_uuid(self):
        unknown = uuidutils.generate_uuid()
        error = self.assertRaises(exception.CellMappingNotFound,
                                  objects.CellMapping.get_by_uuid,
                                  self.context, unknown)
        self.assertIn(unknown, str(error))

    def test_duplicate_uuid_is_refused_and_nothing_changes(self):
        first = mappings.create_cell(self.context, name='first')
        second = objects.CellMapping(
            self.context, uuid=first.uuid, name='second',
            transport_url='none:///', database_connection='sqlite://')
        error = self.assertRaises(exception.CellMappingExists, second.create)
        self.assertIn(first.uuid, str(error))
        self.assertEqual(1, mappings.count_rows(api_models.CellMapping))
        self.assertEqual('first', objects.CellMapping.get_by_uuid(
            self.context, first.uuid).name)

    def test_create_twice_is_refused(self):
        cell = mappings.create_cell(self.context)
        self.assertRaises(exception.ObjectActionError, cell.create)
        self.assertEqual(1, mappings.count_rows(api_models.CellMapping))

    def test_create_without_urls_touches_nothing(self):
        cell = objects.CellMapping(self.context, name='half')
        error = self.assertRaises(exception.ObjectActionError, cell.create)
        self.assertIn('transport_url', str(error))
        self.assertEqual(0, mappings.count_rows(api_models.CellMapping))

    def test_save(self):
        cell = mappings.create_cell(self.context)
        cell.name = 'renamed'
        cell.disabled = True
        cell.database_connection = 'sqlite:////tmp/elsewhere.db'
        cell.save()
        self.assertEqual(set(), cell.obj_what_changed())
        self.assertIsNotNone(cell.updated_at)
        found = objects.CellMapping.get_by_uuid(self.context, cell.uuid)
        self.assertEqual(('renamed', True, 'sqlite:////tmp/elsewhere.db'),
                         (found.name, found.disabled,
                          found.database_connection))

    def test_save_after_delete(self):
        cell = mappings.create_cell(self.context)
        objects.CellMapping.get_by_uuid(self.context, cell.uuid).destroy()
        cell.name = 'late'
        self.assertRaises(exception.CellMappingNotFound, cell.save)

    def test_save_to_a_taken_uuid(self):
        first = mappings.create_cell(self.context, name='first')
        second = mappings.create_cell(self.context, name='second')
        second.uuid = first.uuid
        self.assertRaises(exception.CellMappingExists, second.save)
        self.assertEqual(2, mappings.count_rows(api_models.CellMapping))

    def test_save_keeps_templates(self):
        self.flags(transport_url='rabbit://nova:S3cret@mq1:5672/')
        template = '{scheme}://{username}:{password}@{hostname}:{port}/c1'
        cell = mappings.create_cell(self.context, transport_url=template)
        self.assertEqual('rabbit://nova:S3cret@mq1:5672/c1',
                         cell.transport_url)
        cell.name = 'renamed'
        cell.transport_url = cell.transport_url  # assigned back, filled
        cell.save()
        stored = mappings.count_rows(api_models.CellMapping,
                            api_models.CellMapping.transport_url == template)
        self.assertEqual(1, stored)

    def test_unfillable_template_still_lists(self):
        template = '{scheme}://{username}:{password}@{hostname}/c1'
        mappings.create_cell(self.context, transport_url=template)
        self.flags(transport_url='rabbit://mq1/')
        cells = objects.CellMappingList.get_all(self.context)
        self.assertEqual([template], [c.transport_url for c in cells])
        self.assertIn('username', cells[0].unfilled_url_fields[
            'transport_url'])

    def test_destroy(self):
        cell = mappings.create_cell(self.context)
        cell.destroy()
        self.assertEqual(0, mappings.count_rows(api_models.CellMapping))
        self.assertRaises(exception.CellMappingNotFound, cell.destroy)

    def test_destroy_by_uuid_only(self):
        cell = mappings.create_cell(self.context)
        objects.CellMapping(self.context, uuid=cell.uuid).destroy()
        self.assertEqual(0, mappings.count_rows(api_models.CellMapping))

    def test_destroy_in_use_is_refused(self):
        cell = mappings.create_cell(self.context)
        mappings.create_instance_mapping(self.context, cell)
        self.assertRaises(exception.CellMappingInUse, cell.destroy)
        self.assertEqual(1, mappings.count_rows(api_models.CellMapping))


class TestCellMappingList(mappings.ClassDatabaseTestCase):

    def test_get_all_is_ordered_by_id(self):
        names = ['c', 'a', 'b']
        for name in names:
            mappings.create_cell(self.context, name=name)
        cells = objects.CellMappingList.get_all(self.context)
        self.assertEqual(names, [cell.name for cell in cells])
        self.assertEqual(sorted(cell.id for cell in cells),
                         [cell.id for cell in cells])

    def test_get_all_empty(self):
        self.assertEqual([], list(objects.CellMappingList.get_all(
            self.context)))

    def test_get_by_disabled(self):
        mappings.create_cell(self.context, name='on1')
        mappings.create_cell(self.context, name='off', disabled=True)
        mappings.create_cell(self.context, name='on2')
        list_ = objects.CellMappingList
        self.assertEqual(['off'], [c.name for c in list_.get_by_disabled(
            self.context, disabled=True)])
        self.assertEqual(['on1', 'on2'], [
            c.name for c in list_.get_by_disabled(self.context,
                                                  disabled=False)])

    def test_get_by_project_id_lists_each_cell_once(self):
        cell1 = mappings.create_cell(self.context, name='cell1')
        cell2 = mappings.create_cell(self.context, name='cell2')
        mappings.create_cell(self.context, name='other')
        for cell, project_id in ((cell2, 'p1'), (cell1, 'p1'),
                                 (cell2, 'p1'), (None, 'p1'),
                                 (cell1, 'p2')):
            mappings.create_instance_mapping(self.context, cell, project_id)
        cells = objects.CellMappingList.get_by_project_id(self.context, 'p1')
        self.assertEqual(['cell1', 'cell2'], [c.name for c in cells])
        self.assertEqual([], list(objects.CellMappingList.get_by_project_id(
            self.context, 'nobody')))


class TestCellMappingMySQL(base.MySQLMixin, TestCellMapping):
    pass


class TestCellMappingPostgreSQL(base.PostgreSQLMixin, TestCellMapping):
    pass


class TestCellMappingListMySQL(base.MySQLMixin, TestCellMappingList):
    pass


class TestCellMappingListPostgreSQL(base.PostgreSQLMixin,
                                    TestCellMappingList):
    pass
