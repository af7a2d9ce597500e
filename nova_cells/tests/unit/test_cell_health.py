"""Fail fast per cell: threshold, cooldown, probe, recovery, threads."""

import threading
from unittest import mock

import sqlalchemy as sa

from nova_cells import cell_health
from nova_cells import context
from nova_cells import exception
from nova_cells import instance_list
from nova_cells import scatter_gather
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import sick_servers

PASSWORD = 'Pl4nted-S3cret'  # noqa: S105 - the secret the tests hunt for


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class BreakerTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.flags(failure_threshold=3, down_cell_retry_interval=30,
                   group='cells')
        self.clock = FakeClock()
        self.useFixture(_Patch(cell_health.time, 'monotonic', self.clock))
        cell_health.BREAKERS.reset()
        self.addCleanup(cell_health.BREAKERS.reset)
        self.breaker = cell_health.BREAKERS.get(
            'db-test', cell_health.DATABASE, 'cell-one')


class _Patch:
    """mock.patch.object as a fixture."""

    def __init__(self, target, name, value):
        self._patcher = mock.patch.object(target, name, value)

    def setUp(self):
        self._patcher.start()

    def cleanUp(self):
        self._patcher.stop()

    def getDetails(self):
        return {}


class TestBreaker(BreakerTestCase):

    def test_marked_down_at_the_threshold_and_not_before(self):
        for _ in range(2):
            self.breaker.failed('refused')
            self.breaker.check()
        self.breaker.failed('refused')
        error = self.assertRaises(exception.CellUnavailable,
                                  self.breaker.check)
        self.assertIn('cell-one', str(error))
        self.assertIn('3 times in a row', str(error))
        self.assertTrue(cell_health.any_down())

    def test_a_success_ends_the_run_of_failures(self):
        self.breaker.failed('refused')
        self.breaker.failed('refused')
        self.breaker.succeeded()
        self.breaker.failed('refused')
        self.breaker.failed('refused')
        self.breaker.check()

    def test_one_probe_after_the_cooldown_then_recovery(self):
        for _ in range(3):
            self.breaker.failed('refused')
        self.clock.now += 29
        self.assertRaises(exception.CellUnavailable, self.breaker.check)
        self.clock.now += 1
        self.breaker.check()  # the probe goes through...
        # ...and only the probe, while it runs.
        self.assertRaises(exception.CellUnavailable, self.breaker.check)
        self.breaker.succeeded()
        self.breaker.check()
        self.breaker.check()
        self.assertFalse(cell_health.any_down())

    def test_a_failed_probe_means_another_full_interval(self):
        for _ in range(3):
            self.breaker.failed('refused')
        self.clock.now += 30
        self.breaker.check()
        self.breaker.failed('refused again')
        self.clock.now += 29
        error = self.assertRaises(exception.CellUnavailable,
                                  self.breaker.check)
        self.assertIn('refused again', str(error))
        self.clock.now += 1
        self.breaker.check()

    def test_a_probe_that_never_reports_does_not_keep_the_cell_down(self):
        for _ in range(3):
            self.breaker.failed('refused')
        self.clock.now += 30
        self.breaker.check()  # the probe, which then hangs for ever
        self.clock.now += 29
        self.assertRaises(exception.CellUnavailable, self.breaker.check)
        self.clock.now += 1
        self.breaker.check()  # a new probe

    def test_threads_share_one_state(self):
        self.flags(failure_threshold=8, group='cells')
        barrier = threading.Barrier(8)
        refused = []

        def fail_then_check():
            barrier.wait()
            self.breaker.failed('timeout')
            barrier.wait()
            try:
                self.breaker.check()
            except exception.CellUnavailable:
                refused.append(1)

        threads = [threading.Thread(target=fail_then_check)
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(8, self.breaker.failures)
        self.assertEqual(8, len(refused))



def read_one(ctxt):
    with db_api.get_context_manager(ctxt).reader.using(ctxt) as session:
        return session.execute(sa.text('SELECT 1')).scalar()


class TestFailFastThroughTheRegistry(base.RegistryTestCase):

    def setUp(self):
        super().setUp()
        self.flags(failure_threshold=2, down_cell_retry_interval=3600,
                   group='cells')
        self.flags(connect_timeout=0.3, group='cell_database')
        self.registry.configure(self.conf)
        cell_health.BREAKERS.reset()
        self.addCleanup(cell_health.BREAKERS.reset)

    def target(self, cell):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cell)
        return ctxt

    def hung_cell(self, name='hung'):
        listener = self.useFixture(sick_servers.SilentListener())
        url = 'mysql+pymysql://nova:%s@127.0.0.1:%d/nova' % (
            PASSWORD, listener.port)
        return listener, cells_fixture.FakeCell(uuid=name,
                                                database_connection=url)

    def test_down_cell_is_refused_without_touching_the_network(self):
        listener, cell = self.hung_cell()
        for _ in range(2):
            self.assertRaises(exception.CellUnavailable, read_one,
                              self.target(cell))
        self.assertEqual(2, listener.accepted)
        error = self.assertRaises(exception.CellUnavailable, read_one,
                                  self.target(cell))
        self.assertIn('hung', str(error))
        self.assertIn('2 times in a row', str(error))
        self.assertNotIn(PASSWORD, str(error))
        self.assertEqual(2, listener.accepted)

    def test_errors_that_are_not_the_cells_never_count(self):
        url = self.cell_database('healthy')
        ctxt = self.target(cells_fixture.FakeCell(uuid='healthy',
                                                  database_connection=url))
        created = db_api.instance_create(ctxt, {'host': 'h'})
        for _ in range(4):
            self.assertRaises(exception.InstanceNotFound,
                              db_api.instance_get_by_uuid, ctxt, 'missing')
            self.assertRaises(exception.InstanceExists,
                              db_api.instance_create, ctxt,
                              {'uuid': created.uuid})
            with db_api.get_context_manager(ctxt).reader.using(ctxt) as s:
                self.assertRaises(sa.exc.OperationalError, s.execute,
                                  sa.text('SELECT no_such_column FROM '
                                          'instances'))
        self.assertEqual(1, read_one(ctxt))
        self.assertFalse(cell_health.any_down())

    def test_repointed_cell_is_judged_on_its_new_database(self):
        _listener, cell = self.hung_cell('moved')
        for _ in range(3):
            self.assertRaises(exception.CellUnavailable, read_one,
                              self.target(cell))
        # update_cell points the same cell uuid at a healthy database.
        cell.database_connection = self.cell_database('moved-here')
        self.assertEqual(1, read_one(self.target(cell)))

    def test_scatter_gather_answers_a_down_cell_at_once(self):
        _listener, down = self.hung_cell('down')
        for _ in range(2):
            self.assertRaises(exception.CellUnavailable, read_one,
                              self.target(down))
        healthy = cells_fixture.FakeCell(
            uuid='up', database_connection=self.cell_database('up'))
        called = []

        def fn(cctxt):
            called.append(cctxt.cell_uuid)
            return read_one(cctxt)

        outcomes = scatter_gather.scatter_gather_cells(
            context.get_admin_context(), [down, healthy], 60, fn)
        self.assertEqual(1, outcomes['up'])
        self.assertIsInstance(outcomes['down'], exception.CellUnavailable)
        self.assertEqual(['up'], called)

    def test_listing_names_the_down_cell_and_returns_the_others(self):
        _listener, down = self.hung_cell('down')
        healthy = cells_fixture.FakeCell(
            uuid='up', database_connection=self.cell_database('up'))
        with context.target_cell(context.get_admin_context(),
                                 healthy) as cctxt:
            created = db_api.instance_create(cctxt, {'host': 'h'})
        page = instance_list.instance_get_all_across_cells(
            context.get_admin_context(), cell_mappings=[down, healthy])
        self.assertEqual([created.uuid],
                         [item.instance.uuid for item in page.instances])
        self.assertFalse(page.complete)
        self.assertIsInstance(page.failed_cells['down'],
                              exception.CellUnavailable)
