"""The mapping cache in one process, on real databases: hits skip the API
database, every change through nova_cells is seen at once, the generation
moves only for changes that can make a cached entry wrong, and a routed
read follows a moved instance."""

import fixtures
import sqlalchemy as sa

from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells import objects
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import mapping_generation
from nova_cells.objects import instance_mapping as instance_mapping_obj
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import mappings


def _generation():
    engine = db_api.get_engine(database='api')
    with engine.connect() as connection:
        return connection.execute(sa.select(
            mapping_generation.TABLE.c.generation)).scalar() or 0


class TestMappingCache(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='cells', mapping_cache=True)
        mapping_cache.CACHE.reset()
        url_a, url_b = self.cell_database_urls(2)
        self.cell_a = mappings.create_cell(self.context, 'a',
                                          database_connection=url_a,
                                          transport_url='none:///')
        self.cell_b = mappings.create_cell(self.context, 'b',
                                          database_connection=url_b,
                                          transport_url='none:///')
        self.selects = self.useFixture(mappings.SelectCounter())

    def _instance_in(self, cell, host='h1'):
        with cell.target(self.context) as cctxt:
            instance = db_api.instance_create(cctxt, {'host': host})
        objects.InstanceMapping(self.context, instance_uuid=instance.uuid,
                                project_id='p1', cell_mapping=cell).create()
        return instance.uuid

    def test_hits_skip_the_api_database(self):
        uuid = self._instance_in(self.cell_a)
        objects.InstanceMapping.get_by_instance_uuid(self.context, uuid)
        objects.CellMapping.get_by_uuid(self.context, self.cell_b.uuid)
        objects.CellMappingList.get_all(self.context)
        before = self.selects.count
        for _ in range(5):
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                self.context, uuid)
            cell = objects.CellMapping.get_by_uuid(self.context,
                                                   self.cell_b.uuid)
            everything = objects.CellMappingList.get_all(self.context)
        self.assertEqual(before, self.selects.count)
        self.assertEqual(self.cell_a.uuid, mapping.cell_mapping.uuid)
        self.assertEqual('p1', mapping.project_id)
        self.assertFalse(mapping.queued_for_delete)
        self.assertEqual({}, mapping.obj_get_changes())
        self.assertEqual('b', cell.name)
        self.assertEqual(['a', 'b'], [c.name for c in everything])
        stats = mapping_cache.stats()
        self.assertGreaterEqual(stats.hits, 15)
        self.assertIsNotNone(stats.last_check_age)

    def test_cached_copy_equals_a_fresh_load(self):
        uuid = self._instance_in(self.cell_a)
        cached = objects.InstanceMapping.get_by_instance_uuid(
            self.context, uuid)
        cached = objects.InstanceMapping.get_by_instance_uuid(
            self.context, uuid)
        self.flags(group='cells', mapping_cache=False)
        mapping_cache.CACHE.reset()
        fresh = objects.InstanceMapping.get_by_instance_uuid(
            self.context, uuid)
        self.assertEqual(fresh.obj_to_primitive(), cached.obj_to_primitive())
        # A caller changing its copy changes nothing cached.
        cached.project_id = 'changed'
        self.assertEqual({'project_id': 'changed'}, cached.obj_get_changes())

    def test_changes_through_objects_are_seen_at_once(self):
        uuid = self._instance_in(self.cell_a)
        mapping = objects.InstanceMapping.get_by_instance_uuid(
            self.context, uuid)
        mapping.cell_mapping = self.cell_b
        mapping.save()
        self.assertEqual(self.cell_b.uuid, objects.InstanceMapping
                         .get_by_instance_uuid(self.context, uuid)
                         .cell_mapping.uuid)
        mapping.destroy()
        self.assertRaises(exception.InstanceMappingNotFound,
                          objects.InstanceMapping.get_by_instance_uuid,
                          self.context, uuid)

    def test_cell_changes_are_seen_at_once_by_every_mapping_into_it(self):
        uuid = self._instance_in(self.cell_a)
        objects.InstanceMapping.get_by_instance_uuid(self.context, uuid)
        objects.CellMappingList.get_all(self.context)
        cells_admin.update_cell(self.context, self.cell_a.uuid,
                                name='renamed', disable=True)
        mapping = objects.InstanceMapping.get_by_instance_uuid(
            self.context, uuid)
        self.assertEqual('renamed', mapping.cell_mapping.name)
        self.assertTrue(mapping.cell_mapping.disabled)
        self.assertEqual(['renamed', 'b'], [
            c.name for c in objects.CellMappingList.get_all(self.context)])
        self.assertEqual([self.cell_a.uuid], [
            c.uuid for c in objects.CellMappingList.get_by_disabled(
                self.context, True)])
        # A disabled cell stays readable.
        self.assertEqual(uuid, instance_mapping_obj.get_instance(
            self.context, uuid).uuid)

    def test_generation_moves_only_for_changes_that_can_be_wrong(self):
        start = _generation()
        # Boot: a mapping without a cell, then its first cell.
        mapping = objects.InstanceMapping(
            self.context, instance_uuid='8d8f1cc4-0000-4000-8000-000000000001',
            project_id='p1', cell_mapping=None)
        mapping.create()
        mapping.cell_mapping = self.cell_a
        mapping.save()
        objects.HostMapping(self.context, host='h1',
                            cell_mapping=self.cell_a).create()
        self.assertEqual(start, _generation())
        # Moving, unmapping, renaming: each announced once.
        mapping.cell_mapping = self.cell_b
        mapping.save()
        self.assertEqual(start + 1, _generation())
        host = objects.HostMapping.get_by_host(self.context, 'h1')
        host.cell_mapping = self.cell_b
        host.save()
        self.assertEqual(start + 2, _generation())
        host.destroy()
        mapping.destroy()
        self.assertEqual(start + 4, _generation())
        self.cell_b.name = 'other'
        self.cell_b.save()
        self.assertEqual(start + 5, _generation())

    def test_inside_a_transaction_the_database_answers(self):
        uuid = self._instance_in(self.cell_a)
        objects.InstanceMapping.get_by_instance_uuid(self.context, uuid)
        manager = db_api.get_context_manager(self.context, 'api')
        with manager.writer.using(self.context):
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                self.context, uuid)
            mapping.cell_mapping = self.cell_b
            mapping.save()
            # Not committed yet: only the transaction knows the move.
            self.assertEqual(self.cell_b.uuid, objects.InstanceMapping
                             .get_by_instance_uuid(self.context, uuid)
                             .cell_mapping.uuid)
        self.assertEqual(self.cell_b.uuid, objects.InstanceMapping
                         .get_by_instance_uuid(self.context, uuid)
                         .cell_mapping.uuid)

    def test_host_mappings_follow_moves_and_deletes(self):
        objects.HostMapping(self.context, host='h1',
                            cell_mapping=self.cell_a).create()
        host = objects.HostMapping.get_by_host(self.context, 'h1')
        host = objects.HostMapping.get_by_host(self.context, 'h1')
        self.assertEqual(self.cell_a.uuid, host.cell_mapping.uuid)
        host.cell_mapping = self.cell_b
        host.save()
        self.assertEqual(self.cell_b.uuid, objects.HostMapping.get_by_host(
            self.context, 'h1').cell_mapping.uuid)
        host.destroy()
        self.assertRaises(exception.HostMappingNotFound,
                          objects.HostMapping.get_by_host, self.context, 'h1')

    def test_deleted_cell_is_never_targeted_again(self):
        held = objects.CellMapping.get_by_uuid(self.context,
                                               self.cell_b.uuid)
        objects.CellMappingList.get_all(self.context)
        cells_admin.delete_cell(self.context, self.cell_b.uuid)
        self.assertRaises(exception.CellMappingNotFound,
                          objects.CellMapping.get_by_uuid, self.context,
                          self.cell_b.uuid)
        self.assertEqual(['a'], [
            c.name for c in objects.CellMappingList.get_all(self.context)])

        def target_held_cell():
            with held.target(self.context):
                pass   # targeting happens on entry

        error = self.assertRaises(exception.CellDeleted, target_held_cell)
        self.assertIn(self.cell_b.uuid, str(error))
        self.assertIn('(b)', str(error))

    def test_routed_read_follows_an_instance_moved_behind_the_cache(self):
        uuid = self._instance_in(self.cell_a)
        instance_mapping_obj.get_instance(self.context, uuid)   # cached
        # Another process moves it: row copied to b, mapping repointed,
        # row deleted in a; nothing tells this process's cache.
        with self.cell_b.target(self.context) as in_b:
            db_api.instance_create(in_b, {'uuid': uuid, 'host': 'moved'})
        table = api_models.InstanceMapping.__table__
        with db_api.get_engine(database='api').begin() as connection:
            connection.execute(sa.update(table).where(
                table.c.instance_uuid == uuid).values(cell_id=self.cell_b.id))
        with self.cell_a.target(self.context) as in_a:
            db_api.instance_destroy(in_a, uuid)
        self.assertEqual('moved', instance_mapping_obj.get_instance(
            self.context, uuid).host)
        # The mapping was read again and is now cached as it is.
        self.assertEqual(self.cell_b.uuid, objects.InstanceMapping
                         .get_by_instance_uuid(self.context, uuid)
                         .cell_mapping.uuid)

    def test_instance_missing_everywhere_is_reported_missing(self):
        uuid = self._instance_in(self.cell_a)
        with self.cell_a.target(self.context) as in_a:
            db_api.instance_destroy(in_a, uuid)
        self.assertRaises(exception.InstanceNotFound,
                          instance_mapping_obj.get_instance, self.context,
                          uuid)

    def test_change_behind_the_back_is_seen_after_the_ttl(self):
        clock = [1000.0]
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.mapping_cache.CACHE._clock', lambda: clock[0]))
        mapping_cache.CACHE.reset()
        objects.CellMapping.get_by_uuid(self.context, self.cell_a.uuid)
        table = api_models.CellMapping.__table__
        with db_api.get_engine(database='api').begin() as connection:
            connection.execute(sa.update(table).where(
                table.c.uuid == self.cell_a.uuid).values(name='by hand'))
        clock[0] += 30.0
        self.assertEqual('a', objects.CellMapping.get_by_uuid(
            self.context, self.cell_a.uuid).name)
        clock[0] += 30.0
        self.assertEqual('by hand', objects.CellMapping.get_by_uuid(
            self.context, self.cell_a.uuid).name)


class TestMappingCacheMySQL(base.MySQLMixin, TestMappingCache):
    pass


class TestMappingCachePostgreSQL(base.PostgreSQLMixin, TestMappingCache):
    pass
