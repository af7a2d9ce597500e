"""Scatter-gather over real cell databases and real cell mappings."""

import time

from oslo_utils import uuidutils

from nova_cells import cell_cache
from nova_cells import scatter_gather
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.fixtures import hung_cells

#: Waited out in full whenever a cell hangs; ample for twenty SQLite
#: cells on a loaded machine to answer meanwhile.
TIMEOUT = 3.0
#: For calls that must not wait at all: waiting would take a minute.
NEVER = hung_cells.HANG_GUARD


def create_cell(ctxt, name: str, url: str, disabled: bool = False,
                uuid: str | None = None):
    cell = cell_mapping_obj.CellMapping(
        ctxt, uuid=uuid or uuidutils.generate_uuid(), name=name,
        database_connection=url, transport_url='none:///',
        disabled=disabled)
    cell.create()
    return cell


def list_instance_uuids(cctxt):
    return [row.uuid for row in db_api.instance_get_all_by_filters(cctxt)]


class TestTwentyCells(base.DatabaseTestCase):
    """20 SQLite cells: one hangs, one has a broken database."""

    CELLS = 20

    def setUp(self):
        super().setUp()
        urls = self.cell_database_urls(self.CELLS)
        # A database file with no tables: every query there raises.
        broken_url = self.useFixture(database_fixture.EmptyDatabase(
            name='broken')).url
        self.cells = [create_cell(self.context, 'cell%d' % index, url)
                      for index, url in enumerate(urls)]
        self.broken = create_cell(self.context, 'broken', broken_url)
        self.expected = {}
        for cell in self.cells:
            with cell.target(self.context) as cctxt:
                instance = db_api.instance_create(
                    cctxt, {'display_name': cell.name})
            self.expected[cell.uuid] = [instance.uuid]
        self.hung = self.cells[7]
        self.gate = self.useFixture(hung_cells.HungCells([self.hung.uuid]))
        # Engines are created on first use; make that happen before
        # timing (a cold cell is slower, not hung).
        scatter_gather.scatter_gather_cells(
            self.context, self.cells, 30, list_instance_uuids)

    def gather(self, timeout=TIMEOUT):
        start = time.monotonic()
        outcomes = scatter_gather.scatter_gather_cells(
            self.context, self.cells + [self.broken], timeout,
            self.list_or_hang)
        return outcomes, time.monotonic() - start

    def list_or_hang(self, cctxt):
        self.gate.enter(cctxt.cell_uuid)
        return list_instance_uuids(cctxt)

    def assert_healthy_cells_answered(self, outcomes):
        self.assertEqual(self.CELLS + 1, len(outcomes))
        for cell in self.cells:
            if cell.uuid != self.hung.uuid:
                self.assertEqual(self.expected[cell.uuid],
                                 outcomes[cell.uuid], cell.name)

    def test_a_hung_cell_costs_the_timeout_and_is_reported(self):
        outcomes, elapsed = self.gather()

        # Returned while the hung call is still blocked: not waited for.
        self.assertTrue(self.gate.is_blocked(self.hung.uuid))
        self.assertGreaterEqual(elapsed, TIMEOUT)
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[self.hung.uuid])
        self.assert_healthy_cells_answered(outcomes)

    def test_a_broken_cell_yields_its_exception(self):
        outcomes, _elapsed = self.gather()

        failure = outcomes[self.broken.uuid]
        self.assertIsInstance(failure, Exception)
        self.assertTrue(scatter_gather.is_cell_failure(failure))
        self.assertIn('instances', str(failure))  # no such table

    def test_a_second_call_does_not_wait_for_the_stuck_cell(self):
        self.gather()

        outcomes, elapsed = self.gather(timeout=NEVER)

        # Nowhere near its own minute: the stuck cell was not waited for.
        self.assertLess(elapsed, NEVER / 2)
        self.assertTrue(self.gate.is_blocked(self.hung.uuid))
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      outcomes[self.hung.uuid])
        self.assert_healthy_cells_answered(outcomes)
        self.assertEqual(1, self.gate.calls[self.hung.uuid])

    def test_the_cell_answers_again_after_it_recovers(self):
        self.gather()
        self.gate.release()
        hung_cells.wait_until_not_stuck([self.hung.uuid])

        outcomes, _elapsed = self.gather()

        self.assertEqual(self.expected[self.hung.uuid],
                         outcomes[self.hung.uuid])


class TestAllCellsFromTheApiDatabase(base.DatabaseTestCase):
    """The cached cell list, loaded from real cell mappings."""

    def setUp(self):
        super().setUp()
        # The cache is process wide: never let another test's cells in.
        cell_cache.CELL_CACHE.invalidate()
        self.addCleanup(cell_cache.CELL_CACHE.invalidate)
        self.url = self.cell_database_urls(1)[0]
        self.cell0 = create_cell(self.context, 'cell0', self.url,
                                 uuid=cell_mapping_obj.CELL0_UUID)
        self.cell1 = create_cell(self.context, 'cell1', self.url)

    def answered(self, outcomes):
        return sorted(uuid for uuid, outcome in outcomes.items()
                      if outcome == 'ok')

    def all_cells(self):
        return self.answered(scatter_gather.scatter_gather_all_cells(
            self.context, lambda cctxt: 'ok'))

    def test_disabled_cells_and_cell0_are_included(self):
        disabled = create_cell(self.context, 'off', self.url, disabled=True)
        self.assertEqual(
            sorted([self.cell0.uuid, self.cell1.uuid, disabled.uuid]),
            self.all_cells())

    def test_skip_cell0(self):
        outcomes = scatter_gather.scatter_gather_skip_cell0(
            self.context, lambda cctxt: 'ok')
        self.assertEqual([self.cell1.uuid], self.answered(outcomes))

    def test_changes_are_seen_once_the_ttl_expires(self):
        clock = [0.0]
        cache = cell_cache.CellListCache(clock=lambda: clock[0])
        # The TTL governs the list only with the mapping cache off; with it
        # on every call reads the mapping cache (tests/unit/test_cell_cache).
        self.flags(group='cells', mapping_cache=False, cell_cache_ttl=30)
        before = [cell.uuid for cell in cache.get(self.context)]
        new = create_cell(self.context, 'new', self.url)
        self.cell1.disabled = True
        self.cell1.save()
        self.cell0.destroy()

        clock[0] = 29.0
        self.assertEqual(before, [cell.uuid for cell in
                                  cache.get(self.context)])

        clock[0] = 30.0
        cells = {cell.uuid: cell for cell in cache.get(self.context)}
        self.assertEqual({self.cell1.uuid, new.uuid}, set(cells))
        self.assertTrue(cells[self.cell1.uuid].disabled)

    def test_ttl_zero_sees_a_new_cell_on_the_next_call(self):
        self.flags(group='cells', cell_cache_ttl=0)
        self.all_cells()
        new = create_cell(self.context, 'new', self.url)
        self.assertIn(new.uuid, self.all_cells())


class TestAllCellsFromTheApiDatabaseMySQL(base.MySQLMixin,
                                          TestAllCellsFromTheApiDatabase):
    pass


class TestAllCellsFromTheApiDatabasePostgreSQL(
        base.PostgreSQLMixin, TestAllCellsFromTheApiDatabase):
    pass
