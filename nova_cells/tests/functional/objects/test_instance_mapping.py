"""InstanceMapping and InstanceMappingList against real API databases."""

import fixtures
from oslo_utils import uuidutils

from nova_cells import exception
from nova_cells import objects
from nova_cells.db.sqlalchemy import api_models
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import mappings

IM = api_models.InstanceMapping


class TestInstanceMapping(mappings.ClassDatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.cell = mappings.create_cell(self.context)

    def test_create_and_get_with_its_cell(self):
        created = mappings.create_instance_mapping(self.context, self.cell,
                                          user_id='u1')
        self.assertFalse(created.queued_for_delete)
        self.assertEqual(set(), created.obj_what_changed())
        found = objects.InstanceMapping.get_by_instance_uuid(
            self.context, created.instance_uuid)
        self.assertEqual((created.id, 'p1', 'u1', False),
                         (found.id, found.project_id, found.user_id,
                          found.queued_for_delete))
        self.assertEqual(self.cell.obj_to_primitive(),
                         found.cell_mapping.obj_to_primitive())

    def test_get_loads_the_cell_in_the_same_query(self):
        mapping = mappings.create_instance_mapping(self.context, self.cell)
        counter = self.useFixture(mappings.SelectCounter())
        found = objects.InstanceMapping.get_by_instance_uuid(
            self.context, mapping.instance_uuid)
        self.assertEqual(self.cell.uuid, found.cell_mapping.uuid)
        self.assertEqual(1, counter.count)

    def test_unscheduled_mapping_has_no_cell(self):
        mapping = mappings.create_instance_mapping(self.context, None)
        found = objects.InstanceMapping.get_by_instance_uuid(
            self.context, mapping.instance_uuid)
        self.assertIsNone(found.cell_mapping)
        self.assertIsNone(found.user_id)
        self.assertRaises(exception.InstanceNotMappedToCell, found.target,
                          self.context)

    def test_get_unknown(self):
        unknown = uuidutils.generate_uuid()
        error = self.assertRaises(
            exception.InstanceMappingNotFound,
            objects.InstanceMapping.get_by_instance_uuid, self.context,
            unknown)
        self.assertIn(unknown, str(error))

    def test_duplicate_is_refused_and_nothing_changes(self):
        first = mappings.create_instance_mapping(self.context, self.cell,
                                        project_id='first')
        again = objects.InstanceMapping(
            self.context, instance_uuid=first.instance_uuid,
            project_id='second', cell_mapping=None)
        self.assertRaises(exception.InstanceMappingExists, again.create)
        self.assertEqual(1, mappings.count_rows(IM))
        found = objects.InstanceMapping.get_by_instance_uuid(
            self.context, first.instance_uuid)
        self.assertEqual(('first', self.cell.id),
                         (found.project_id, found.cell_mapping.id))

    def test_create_with_an_uncreated_cell_touches_nothing(self):
        cell = objects.CellMapping(self.context,
                                   uuid=uuidutils.generate_uuid())
        mapping = objects.InstanceMapping(
            self.context, instance_uuid=uuidutils.generate_uuid(),
            project_id='p1', cell_mapping=cell)
        self.assertRaises(exception.ObjectActionError, mapping.create)
        self.assertEqual(0, mappings.count_rows(IM))

    def test_create_with_a_deleted_cell(self):
        cell = mappings.create_cell(self.context, name='doomed')
        cell.destroy()
        mapping = objects.InstanceMapping(
            self.context, instance_uuid=uuidutils.generate_uuid(),
            project_id='p1', cell_mapping=cell)
        self.assertRaises(exception.CellMappingNotFound, mapping.create)
        self.assertEqual(0, mappings.count_rows(IM))

    def test_create_without_project_touches_nothing(self):
        mapping = objects.InstanceMapping(
            self.context, instance_uuid=uuidutils.generate_uuid())
        self.assertRaises(exception.ObjectActionError, mapping.create)
        self.assertEqual(0, mappings.count_rows(IM))

    def test_save_maps_moves_and_unmaps(self):
        mapping = mappings.create_instance_mapping(self.context, None)
        mapping.cell_mapping = self.cell
        mapping.user_id = 'u1'
        mapping.save()
        found = objects.InstanceMapping.get_by_instance_uuid(
            self.context, mapping.instance_uuid)
        self.assertEqual((self.cell.uuid, 'u1'),
                         (found.cell_mapping.uuid, found.user_id))
        other = mappings.create_cell(self.context, name='other')
        found.cell_mapping = other
        found.save()
        self.assertEqual(other.uuid, found.cell_mapping.uuid)
        found.cell_mapping = None
        found.queued_for_delete = True
        found.save()
        again = objects.InstanceMapping.get_by_instance_uuid(
            self.context, mapping.instance_uuid)
        self.assertIsNone(again.cell_mapping)
        self.assertTrue(again.queued_for_delete)

    def test_save_after_delete(self):
        mapping = mappings.create_instance_mapping(self.context, self.cell)
        objects.InstanceMapping(
            self.context, instance_uuid=mapping.instance_uuid).destroy()
        mapping.project_id = 'late'
        self.assertRaises(exception.InstanceMappingNotFound, mapping.save)

    def test_destroy(self):
        mapping = mappings.create_instance_mapping(self.context, self.cell)
        mapping.destroy()
        self.assertEqual(0, mappings.count_rows(IM))
        self.assertRaises(exception.InstanceMappingNotFound,
                          mapping.destroy)

    def test_null_queued_for_delete_reads_as_false(self):
        mapping = mappings.create_instance_mapping(self.context, self.cell)
        mappings.set_null_queued_for_delete([mapping.instance_uuid])
        self.assertFalse(objects.InstanceMapping.get_by_instance_uuid(
            self.context, mapping.instance_uuid).queued_for_delete)


class TestInstanceMappingList(mappings.ClassDatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.cell1 = mappings.create_cell(self.context, name='cell1')
        self.cell2 = mappings.create_cell(self.context, name='cell2')

    def make(self, cell, project_id='p1', **values):
        return mappings.create_instance_mapping(self.context, cell,
                                       project_id=project_id, **values)

    def uuids(self, mappings):
        return [mapping.instance_uuid for mapping in mappings]

    def test_get_by_project_id(self):
        wanted = [self.make(self.cell1), self.make(None),
                  self.make(self.cell2, queued_for_delete=True)]
        self.make(self.cell1, project_id='p2')
        found = objects.InstanceMappingList.get_by_project_id(
            self.context, 'p1')
        self.assertEqual(self.uuids(wanted), self.uuids(found))
        self.assertEqual([self.cell1.uuid, None, self.cell2.uuid], [
            m.cell_mapping.uuid if m.cell_mapping else None for m in found])

    def test_get_by_cell_id(self):
        wanted = [self.make(self.cell2), self.make(self.cell2, 'p2')]
        self.make(self.cell1)
        self.make(None)
        found = objects.InstanceMappingList.get_by_cell_id(
            self.context, self.cell2.id)
        self.assertEqual(self.uuids(wanted), self.uuids(found))
        self.assertEqual([], list(objects.InstanceMappingList.get_by_cell_id(
            self.context, self.cell2.id + 100)))

    def test_get_by_instance_uuids_in_chunks(self):
        self.useFixture(fixtures.MockPatch(
            'nova_cells.objects.instance_mapping.IN_CLAUSE_CHUNK', 2))
        mappings = [self.make(self.cell1) for _ in range(5)]
        self.make(self.cell2)
        asked = self.uuids(mappings)[::-1] + [uuidutils.generate_uuid()]
        found = objects.InstanceMappingList.get_by_instance_uuids(
            self.context, asked)
        self.assertEqual(self.uuids(mappings), self.uuids(found))
        self.assertEqual({self.cell1.uuid},
                         {m.cell_mapping.uuid for m in found})

    def test_destroy_bulk(self):
        self.useFixture(fixtures.MockPatch(
            'nova_cells.objects.instance_mapping.IN_CLAUSE_CHUNK', 2))
        doomed = [self.make(self.cell1) for _ in range(3)]
        kept = self.make(self.cell1)
        deleted = objects.InstanceMappingList.destroy_bulk(
            self.context, self.uuids(doomed) + [uuidutils.generate_uuid()])
        self.assertEqual(3, deleted)
        self.assertEqual(1, mappings.count_rows(IM))
        self.assertEqual(kept.id, objects.InstanceMapping.get_by_instance_uuid(
            self.context, kept.instance_uuid).id)
        self.assertEqual(0, objects.InstanceMappingList.destroy_bulk(
            self.context, []))

    def test_get_not_deleted_by_cell_and_project(self):
        live = [self.make(self.cell1), self.make(self.cell1),
                self.make(self.cell1)]
        # The third was never migrated: NULL counts as not queued.
        mappings.set_null_queued_for_delete([live[2].instance_uuid])
        self.make(self.cell1, queued_for_delete=True)
        self.make(self.cell2)
        other_project = self.make(self.cell1, project_id='p2')
        method = (objects.InstanceMappingList
                  .get_not_deleted_by_cell_and_project)
        self.assertEqual(self.uuids(live), self.uuids(
            method(self.context, self.cell1.uuid, 'p1')))
        self.assertEqual(self.uuids(live[:2]), self.uuids(
            method(self.context, self.cell1.uuid, 'p1', limit=2)))
        self.assertEqual(self.uuids(live + [other_project]), self.uuids(
            method(self.context, self.cell1.uuid, None)))
        self.assertEqual([], list(method(
            self.context, uuidutils.generate_uuid(), 'p1')))

    def test_get_counts(self):
        self.make(self.cell1, user_id='u1')
        self.make(self.cell2, user_id='u1')
        self.make(None, user_id='u2')
        self.make(self.cell1, user_id='u1', queued_for_delete=True)
        unknown = self.make(self.cell1, user_id='u1')
        mappings.set_null_queued_for_delete([unknown.instance_uuid])
        self.make(self.cell1, project_id='p2', user_id='u1')
        counts = objects.InstanceMappingList.get_counts
        self.assertEqual({'project': {'instances': 3},
                          'user': {'instances': 2}},
                         counts(self.context, 'p1', user_id='u1'))
        self.assertEqual({'project': {'instances': 3}},
                         counts(self.context, 'p1'))
        self.assertEqual({'project': {'instances': 0},
                          'user': {'instances': 0}},
                         counts(self.context, 'nobody', 'u1'))


class TestInstanceMappingMySQL(base.MySQLMixin, TestInstanceMapping):
    pass


class TestInstanceMappingPostgreSQL(base.PostgreSQLMixin,
                                    TestInstanceMapping):
    pass


class TestInstanceMappingListMySQL(base.MySQLMixin,
                                   TestInstanceMappingList):
    pass


class TestInstanceMappingListPostgreSQL(base.PostgreSQLMixin,
                                        TestInstanceMappingList):
    pass
