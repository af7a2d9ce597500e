"""map_instances and verify_instance, in process, on every backend."""

import collections

import fixtures
import sqlalchemy as sa

from nova_cells import context
from nova_cells import exception
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import instance_mapping as instance_mapping_obj
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import builders

Status = instances_admin.InstanceStatus


class TestMapInstances(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.url = self.cell_database_urls(1)[0]
        self.cell = builders.create_cell(self.context, self.url)

    def _map(self, **kwargs):
        return instances_admin.map_instances(self.context, self.cell.uuid,
                                             **kwargs)

    def _marker(self):
        return mapping_admin.map_instances_marker(self.context, self.cell.id)

    def test_maps_every_instance_once_in_batches(self):
        uuids = builders.add_instances(self.url, 25)
        result = self._map(batch_size=7)
        self.assertEqual((25, 25, False), (result.examined, result.mapped,
                                           result.more_remaining))
        self.assertEqual(sorted(uuids), sorted(builders.mapped_uuids(
            self.context)))
        self.assertIsNone(self._marker())
        again = self._map()
        self.assertEqual((0, 25), (again.mapped, again.already_mapped))

    def test_max_count_resumes_where_it_stopped(self):
        uuids = builders.add_instances(self.url, 10)
        first = self._map(max_count=4, batch_size=3)
        self.assertEqual((4, True), (first.mapped, first.more_remaining))
        self.assertIsNotNone(self._marker())
        second = self._map(max_count=4)
        self.assertEqual(self._marker(), second.last_instance_id)
        self.assertEqual(first.last_instance_id, second.resumed_after)
        self.assertEqual(4, second.mapped)
        last = self._map(max_count=4)
        self.assertEqual((2, False), (last.mapped, last.more_remaining))
        self.assertIsNone(self._marker())
        self.assertEqual(sorted(uuids), sorted(builders.mapped_uuids(
            self.context)))

    def test_exact_max_count_with_nothing_left_is_done(self):
        builders.add_instances(self.url, 4)
        result = self._map(max_count=4)
        self.assertFalse(result.more_remaining)
        self.assertIsNone(self._marker())

    def test_reset_starts_from_the_beginning(self):
        builders.add_instances(self.url, 6)
        self._map(max_count=3)
        # Someone removed a mapping behind the resume point.
        first = builders.mapped_uuids(self.context)[0]
        instance_mapping_obj.InstanceMappingList.destroy_bulk(self.context,
                                                             [first])
        self.assertEqual(3, self._map().mapped)
        self.assertNotIn(first, builders.mapped_uuids(self.context))
        self.assertEqual(1, self._map(reset=True).mapped)
        self.assertIn(first, builders.mapped_uuids(self.context))

    def test_invalid_counts_write_nothing(self):
        builders.add_instances(self.url, 3)
        for kwargs in ({'max_count': -1}, {'max_count': 0},
                       {'batch_size': 0}):
            self.assertRaises(exception.InvalidMaxCount, self._map, **kwargs)
        self.assertRaises(exception.CellMappingNotFound,
                          instances_admin.map_instances, self.context,
                          'no-such-cell')
        self.assertEqual([], builders.mapped_uuids(self.context))
        self.assertIsNone(self._marker())

    def test_deleted_instances_are_queued_for_delete(self):
        live = builders.add_instances(self.url, 1)
        gone = builders.add_instances(self.url, 1, deleted=1)
        soft = builders.add_instances(self.url, 1, vm_state='soft-delete')
        self._map()
        table = api_models.InstanceMapping.__table__
        with db_api.get_context_manager(self.context, 'api').reader.using(
                self.context) as session:
            flags = dict(session.execute(sa.select(
                table.c.instance_uuid, table.c.queued_for_delete)).all())
        self.assertEqual({live[0]: False, gone[0]: True, soft[0]: True},
                         flags)

    def test_batch_lost_to_a_concurrent_run_is_redone(self):
        if self.BACKEND == backends.SQLITE:
            self.skipTest('a batch holds the SQLite write lock from its '
                          'first statement, so no run can insert between '
                          'its check and its insert')
        uuids = builders.add_instances(self.url, 5)
        real = mapping_admin._existing_mappings
        calls = []

        def race_after_the_check(session, batch_uuids):
            found = real(session, batch_uuids)
            if not calls:
                calls.append(batch_uuids)
                # A concurrent run maps one of ours right after our check
                # (committed): our insert then hits the unique constraint.
                instance_mapping_obj.InstanceMapping(
                    context.get_admin_context(),
                    instance_uuid=batch_uuids[2], project_id='p',
                    cell_mapping=self.cell).create()
            return found

        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_admin._existing_mappings',
            race_after_the_check))
        result = self._map()
        self.assertEqual((4, 1), (result.mapped, result.already_mapped))
        counts = collections.Counter(builders.mapped_uuids(self.context))
        self.assertEqual(set(uuids), set(counts))
        self.assertEqual({1}, set(counts.values()))

    def test_progress_is_reported(self):
        builders.add_instances(self.url, 5)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.cells_admin.instances.PROGRESS_INTERVAL', 0))
        reports = []
        self._map(batch_size=2, progress=lambda r: reports.append(r.examined))
        self.assertEqual([2, 4, 5], reports)


class TestVerifyInstance(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.url = self.cell_database_urls(1)[0]
        self.cell = builders.create_cell(self.context, self.url)

    def _status(self, uuid):
        return instances_admin.verify_instance(self.context, uuid).status

    def test_every_status(self):
        live, deleted, archived = builders.add_instances(self.url, 3)
        instances_admin.map_instances(self.context, self.cell.uuid)
        with self.cell.target(self.context) as cctxt:
            db_api.instance_destroy(cctxt, deleted)
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            table = db_api.models.Instance.__table__
            connection.execute(sa.delete(table).where(
                table.c.uuid == archived))
        engine.dispose()
        instance_mapping_obj.InstanceMapping(
            self.context, instance_uuid='11111111-2222-3333-4444-555555555555',
            project_id='p', cell_mapping=None).create()
        self.assertEqual(
            [Status.MAPPED, Status.NOT_MAPPED, Status.NO_CELL, Status.DELETED,
             Status.ARCHIVED],
            [self._status(live), self._status('not-a-uuid'),
             self._status('11111111-2222-3333-4444-555555555555'),
             self._status(deleted), self._status(archived)])
        self.assertEqual((0, 1, 2, 3, 4), tuple(Status))

    def test_instance_in_cell0_says_so(self):
        cell0, _ = cells_admin.map_cell0(self.context,
                                         self.cell_database_urls(1)[0])
        uuid = builders.add_instances(cell0.database_connection, 1)[0]
        instances_admin.map_instances(self.context, cell0.uuid)
        verification = instances_admin.verify_instance(self.context, uuid)
        self.assertEqual(Status.MAPPED, verification.status)
        self.assertIn('cell0', verification.message)


class TestMapInstancesMySQL(base.MySQLMixin, TestMapInstances):
    pass


class TestMapInstancesPostgreSQL(base.PostgreSQLMixin, TestMapInstances):
    pass

