"""Scatter-gather without databases: outcomes, timeouts, stuck cells and
the worker pool."""

import copy
import functools
import os
import pickle
import threading
import time

import fixtures
from oslo_config import cfg

from nova_cells import cell_cache
from nova_cells import conf
from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells import scatter_gather
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import hung_cells

#: For calls where only hung cells answer: they cost this, whatever it is.
SHORT_TIMEOUT = 0.3
#: For calls where healthy cells must answer while another hangs: waited
#: out in full, and ample for a trivial call on a loaded machine.
ANSWER_TIMEOUT = 2.0
#: For calls that must not wait at all: waiting would take ages, and a
#: bound of half of it is no bound on this machine's speed.
NEVER = hung_cells.HANG_GUARD

#: Cells on a database server: each call gets a pool task of its own
#: (cells on SQLite files share a lane, see TestLocalFileLane).
ServerCell = functools.partial(
    cells_fixture.FakeCell,
    database_connection=cells_fixture.SERVER_DATABASE_URL)


def make_server_cells(count: int) -> list:
    return cells_fixture.make_cells(count, cells_fixture.SERVER_DATABASE_URL)


class ScatterGatherTestBase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()

    def hang(self, cells, guard: float = NEVER) -> hung_cells.HungCells:
        """A cell function hanging in ``cells`` (for ``guard`` seconds at
        most); released at cleanup."""
        return self.useFixture(
            hung_cells.HungCells([cell.uuid for cell in cells], guard))

    def timed(self, *args, **kwargs):
        start = time.monotonic()
        outcomes = scatter_gather.scatter_gather_cells(*args, **kwargs)
        return outcomes, time.monotonic() - start


class TestOutcomes(ScatterGatherTestBase):

    def test_each_cell_runs_with_its_own_targeted_copy(self):
        cells = make_server_cells(5)
        seen = {}

        def record(cctxt, first, second=None):
            seen[cctxt.cell_uuid] = cctxt
            return (cctxt.cell_uuid, first, second)

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, 5, record, 'a', second='b')

        self.assertEqual({cell.uuid: (cell.uuid, 'a', 'b')
                          for cell in cells}, outcomes)
        self.assertIsNone(self.context.cell_uuid)
        self.assertIsNone(self.context.db_connection)
        for cctxt in seen.values():
            self.assertIsNot(self.context, cctxt)
            self.assertIsNotNone(cctxt.db_connection)

    def test_a_raising_cell_yields_its_exception(self):
        cells = make_server_cells(3)
        error = ValueError('boom')

        def fail_in_second(cctxt):
            if cctxt.cell_uuid == cells[1].uuid:
                raise error
            return 'ok'

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, 5, fail_in_second)

        self.assertIs(error, outcomes[cells[1].uuid])
        self.assertTrue(scatter_gather.is_cell_failure(
            outcomes[cells[1].uuid]))
        self.assertEqual('ok', outcomes[cells[0].uuid])
        self.assertEqual('ok', outcomes[cells[2].uuid])

    def test_a_url_in_a_cell_error_is_logged_masked(self):
        logger = self.useFixture(fixtures.FakeLogger(
            name=scatter_gather.__name__))
        cells = make_server_cells(1)

        def fail(cctxt):
            raise RuntimeError('cannot reach mysql+pymysql://nova:'
                               'Sup3rS3cret@db1/nova (timeout)')

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, 5, fail)

        self.assertIsInstance(outcomes[cells[0].uuid], RuntimeError)
        self.assertIn('mysql+pymysql://nova:***@db1/nova', logger.output)
        self.assertNotIn('Sup3rS3cret', logger.output)

    def test_an_untargetable_cell_is_that_cell_failure(self):
        good = ServerCell()
        bad = ServerCell(database_connection='no-such-dialect://u:pw@h/db')

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [good, bad], 5, lambda cctxt: 'ok')

        self.assertEqual('ok', outcomes[good.uuid])
        self.assertIsInstance(outcomes[bad.uuid], exception.InvalidCellURL)
        self.assertNotIn('pw', str(outcomes[bad.uuid]))

    def test_a_cell_listed_twice_is_asked_once(self):
        cell = ServerCell()
        function = self.hang([])

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [cell, cell], 5, function)

        self.assertEqual({cell.uuid: cell.uuid}, outcomes)
        self.assertEqual({cell.uuid: 1}, function.calls)

    def test_is_cell_failure(self):
        self.assertTrue(scatter_gather.is_cell_failure(
            scatter_gather.did_not_respond_sentinel))
        self.assertTrue(scatter_gather.is_cell_failure(KeyError('x')))
        for result in (None, [], 0, '', 'value', {'a': 1}):
            self.assertFalse(scatter_gather.is_cell_failure(result))

    def test_copied_outcomes_keep_the_sentinel(self):
        outcomes = {'cell': scatter_gather.did_not_respond_sentinel}
        for copied in (copy.deepcopy(outcomes),
                       pickle.loads(pickle.dumps(outcomes))):
            self.assertIs(scatter_gather.did_not_respond_sentinel,
                          copied['cell'])

    def test_single_cell(self):
        cell = ServerCell()
        outcomes = scatter_gather.scatter_gather_single_cell(
            self.context, cell, lambda cctxt, value: value * 2, 21)
        self.assertEqual({cell.uuid: 42}, outcomes)


class TestTimeouts(ScatterGatherTestBase):

    def test_a_hung_cell_costs_the_timeout_and_no_more(self):
        cells = make_server_cells(6)
        function = self.hang([cells[2]])

        outcomes, elapsed = self.timed(
            self.context, cells, ANSWER_TIMEOUT, function)

        # Returned while the hung call is still blocked: not waited for.
        self.assertTrue(function.is_blocked(cells[2].uuid))
        self.assertGreaterEqual(elapsed, ANSWER_TIMEOUT)
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cells[2].uuid])
        self.assertEqual(
            {cell.uuid: cell.uuid for index, cell in enumerate(cells)
             if index != 2},
            {key: value for key, value in outcomes.items()
             if key != cells[2].uuid})

    def test_default_timeout_comes_from_config(self):
        self.flags(group='cells', scatter_gather_timeout=SHORT_TIMEOUT)
        cell = ServerCell()
        # Answers in 10 s: after the configured timeout, long before the
        # default (60 s).
        function = self.hang([cell], guard=10)

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [cell], None, function)

        self.assertTrue(function.is_blocked(cell.uuid))
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cell.uuid])

    def test_options_come_from_the_registry_configuration(self):
        # One configuration source: the ConfigOpts the registry was given
        # (here from its own file), not the global CONF (whose default
        # timeout would let the cell answer). Overrides would not do: the
        # option groups, and so their overrides, are shared.
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'private.conf')
        with open(path, 'w') as config_file:
            config_file.write('[cells]\nscatter_gather_timeout = %s\n' %
                              SHORT_TIMEOUT)
        private = cfg.ConfigOpts()
        conf.register_all(private)
        private([], project='nova_cells', default_config_files=[path])
        self.assertGreater(self.conf.cells.scatter_gather_timeout, 10)
        registry = connections.ConnectionRegistry(private)
        self.addCleanup(registry.dispose_all)
        self.useFixture(fixtures.MockPatchObject(
            connections, 'REGISTRY', registry))
        cell = ServerCell()
        function = self.hang([cell], guard=10)

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [cell], None, function)

        self.assertTrue(function.is_blocked(cell.uuid))
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cell.uuid])

    def test_a_stuck_cell_is_answered_at_once_by_later_calls(self):
        cells = make_server_cells(4)
        function = self.hang([cells[0]])
        scatter_gather.scatter_gather_cells(
            self.context, cells, ANSWER_TIMEOUT, function)
        self.assertTrue(scatter_gather.is_cell_stuck(cells[0].uuid))
        self.assertFalse(scatter_gather.is_cell_stuck(cells[1].uuid))

        # A minute's timeout: waiting for the stuck cell would show.
        outcomes, elapsed = self.timed(self.context, cells, NEVER, function)

        self.assertLess(elapsed, NEVER / 2)
        self.assertTrue(function.is_blocked(cells[0].uuid))
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cells[0].uuid])
        self.assertEqual(cells[1].uuid, outcomes[cells[1].uuid])
        # Not asked again while stuck: no second thread piles up on it.
        self.assertEqual(1, function.calls[cells[0].uuid])

    def test_a_stuck_cell_is_asked_again_once_it_recovers(self):
        cell = ServerCell()
        function = self.hang([cell])
        scatter_gather.scatter_gather_cells(
            self.context, [cell], SHORT_TIMEOUT, function)
        function.release()
        hung_cells.wait_until_not_stuck([cell.uuid])

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [cell], 5, function)

        self.assertEqual({cell.uuid: cell.uuid}, outcomes)

    def test_a_busy_cell_within_its_deadline_is_not_stuck(self):
        # Two callers list the same slow (but healthy) cell at once: the
        # second must wait for its own answer, not be told the cell is down.
        # The first call answers only once the second has reached the cell.
        self.flags(group='cells', scatter_gather_workers=2)
        cell = ServerCell()
        first_in, second_in = threading.Event(), threading.Event()
        calls = []

        def slow(cctxt):
            calls.append(cctxt.cell_uuid)
            if len(calls) == 1:
                first_in.set()
                second_in.wait(ANSWER_TIMEOUT * 5)
            else:
                second_in.set()
            return cctxt.cell_uuid

        results = []

        def call():
            results.append(scatter_gather.scatter_gather_cells(
                self.context, [cell], NEVER, slow))

        first = threading.Thread(target=call)
        first.start()
        self.assertTrue(first_in.wait(NEVER))
        call()
        first.join(NEVER)

        self.assertEqual([{cell.uuid: cell.uuid}] * 2, results)
        self.assertEqual(2, len(calls))


class TestWorkerPool(ScatterGatherTestBase):

    def test_concurrency_is_bounded_by_the_worker_count(self):
        self.flags(group='cells', scatter_gather_workers=3)
        cells = make_server_cells(12)
        lock = threading.Lock()
        running = [0]
        most = [0]
        # Calls leave three at a time: three must be able to run at once,
        # and a fourth, if let in, is counted while it waits.
        three_in = threading.Barrier(3, timeout=ANSWER_TIMEOUT * 5)

        def count(cctxt):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            three_in.wait()
            with lock:
                running[0] -= 1
            return 'ok'

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, NEVER, count)

        self.assertEqual({cell.uuid: 'ok' for cell in cells}, outcomes)
        self.assertLessEqual(most[0], 3)
        self.assertGreater(most[0], 1)

    def test_hung_cells_do_not_starve_healthy_ones(self):
        self.flags(group='cells', scatter_gather_workers=2)
        hung = make_server_cells(2)
        function = self.hang(hung)
        scatter_gather.scatter_gather_cells(
            self.context, hung, SHORT_TIMEOUT, function)
        healthy = make_server_cells(4)

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, hung + healthy, 5, function)

        for cell in healthy:
            self.assertEqual(cell.uuid, outcomes[cell.uuid])
        for cell in hung:
            self.assertIs(scatter_gather.did_not_respond_sentinel,
                          outcomes[cell.uuid])

    def test_a_call_still_queued_at_the_deadline_never_runs(self):
        self.flags(group='cells', scatter_gather_workers=1)
        hung, queued = ServerCell(name='hung'), ServerCell(name='queued')
        function = self.hang([hung])

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, [hung, queued], SHORT_TIMEOUT, function)

        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[queued.uuid])
        self.assertNotIn(queued.uuid, function.calls)
        # Never started, so never stuck: the next call asks it. With one
        # worker, that call runs after the dropped one left the queue, so
        # one call in all shows the dropped one never ran.
        self.assertEqual(
            {queued.uuid: queued.uuid},
            scatter_gather.scatter_gather_cells(
                self.context, [queued], NEVER, function))
        self.assertEqual(1, function.calls[queued.uuid])

    def test_a_queued_call_to_a_cell_stuck_meanwhile_is_not_run(self):
        # The second caller asks before the first gives up (so the cell is
        # not stuck yet), but its call only leaves the queue afterwards.
        self.flags(group='cells', scatter_gather_workers=1)
        cell = ServerCell()
        function = self.hang([cell])
        first = threading.Thread(
            target=scatter_gather.scatter_gather_cells,
            args=(self.context, [cell], ANSWER_TIMEOUT, function))
        first.start()
        self.assertTrue(function.entered.wait(NEVER))

        outcomes, elapsed = self.timed(self.context, [cell], NEVER, function)
        first.join(NEVER)

        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cell.uuid])
        self.assertLess(elapsed, NEVER / 2)
        self.assertTrue(function.is_blocked(cell.uuid))
        self.assertEqual(1, function.calls[cell.uuid])

    def test_threads_are_reused_across_calls(self):
        self.flags(group='cells', scatter_gather_workers=4)
        cells = make_server_cells(4)
        threads = []
        before = scatter_gather._POOL.thread_count

        def record(cctxt):
            threads.append(threading.current_thread())

        for _ in range(25):
            scatter_gather.scatter_gather_cells(
                self.context, cells, 5, record)

        self.assertEqual(100, len(threads))
        self.assertLessEqual(len(set(threads)), before + 4)
        self.assertTrue(all(thread.daemon for thread in threads))


class TestLocalFileLane(ScatterGatherTestBase):
    """Cells on local SQLite files run one after another in one worker,
    with the same outcomes, timeouts and stuck-cell answers."""

    def test_local_file_cells_share_one_worker_and_servers_do_not(self):
        files, servers = cells_fixture.make_cells(6), make_server_cells(3)
        entered = threading.Barrier(len(servers), timeout=5)
        threads = {}

        def record(cctxt):
            threads[cctxt.cell_uuid] = threading.current_thread()
            if cctxt.cell_uuid in {cell.uuid for cell in servers}:
                entered.wait()  # only passes if the three run at once
            return cctxt.cell_uuid

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, files + servers, 10, record)

        self.assertEqual({cell.uuid: cell.uuid for cell in files + servers},
                         outcomes)
        self.assertEqual(1, len({threads[cell.uuid] for cell in files}))
        self.assertNotIn(threading.current_thread(), threads.values())

    def test_a_hung_local_file_cell_holds_up_no_other(self):
        cells = cells_fixture.make_cells(5)
        function = self.hang([cells[0]])  # first in its lane

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, ANSWER_TIMEOUT, function)

        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cells[0].uuid])
        self.assertEqual({cell.uuid: cell.uuid for cell in cells[1:]},
                         {cell.uuid: outcomes[cell.uuid]
                          for cell in cells[1:]})
        self.assertTrue(function.is_blocked(cells[0].uuid))

    def test_a_stuck_local_file_cell_is_answered_at_once(self):
        cells = cells_fixture.make_cells(3)
        function = self.hang([cells[1]])
        scatter_gather.scatter_gather_cells(
            self.context, cells, SHORT_TIMEOUT, function)

        outcomes, elapsed = self.timed(self.context, cells, NEVER, function)

        self.assertLess(elapsed, NEVER / 2)
        self.assertTrue(function.is_blocked(cells[1].uuid))
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[cells[1].uuid])
        self.assertEqual(cells[2].uuid, outcomes[cells[2].uuid])
        self.assertEqual(1, function.calls[cells[1].uuid])

    def test_a_raising_local_file_cell_is_that_cell_failure(self):
        cells = cells_fixture.make_cells(3)

        def fail_in_middle(cctxt):
            if cctxt.cell_uuid == cells[1].uuid:
                raise exception.NotFound('gone')
            return 'ok'

        outcomes = scatter_gather.scatter_gather_cells(
            self.context, cells, 10, fail_in_middle)

        self.assertIsInstance(outcomes[cells[1].uuid], exception.NotFound)
        self.assertEqual('ok', outcomes[cells[0].uuid])
        self.assertEqual('ok', outcomes[cells[2].uuid])


class TestAllCells(ScatterGatherTestBase):

    def setUp(self):
        super().setUp()
        self.cells = [ServerCell(name='cell0', cell0=True),
                      ServerCell(name='cell1'),
                      ServerCell(name='disabled', disabled=True)]
        previous = cell_cache.CELL_CACHE.replace_loader(
            lambda ctxt: list(self.cells))
        self.addCleanup(cell_cache.CELL_CACHE.replace_loader, previous)

    def test_all_cells_includes_cell0_and_disabled_cells(self):
        outcomes = scatter_gather.scatter_gather_all_cells(
            self.context, lambda cctxt, suffix: cctxt.cell_uuid + suffix,
            '!')
        self.assertEqual({cell.uuid: cell.uuid + '!' for cell in self.cells},
                         outcomes)

    def test_skip_cell0_leaves_out_only_cell0(self):
        outcomes = scatter_gather.scatter_gather_skip_cell0(
            self.context, lambda cctxt: 'ok')
        self.assertEqual({self.cells[1].uuid: 'ok',
                          self.cells[2].uuid: 'ok'}, outcomes)
