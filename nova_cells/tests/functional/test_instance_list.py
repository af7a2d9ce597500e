"""Merge-sorted instance listing across cells, checked against one
database holding every row."""

import datetime
import uuid as uuid_lib

import fixtures
import hypothesis
import sqlalchemy as sa
from hypothesis import strategies as st
from oslo_utils import uuidutils

from nova_cells import cell_cache
from nova_cells import exception
from nova_cells import instance_list
from nova_cells import scatter_gather
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import hung_cells

INSTANCES = models.Instance.__table__
SORTABLE = ('display_name', 'host', 'created_at', 'power_state',
            'project_id', 'uuid')
#: Waited out in full while a cell hangs; ample for the other cells on a
#: loaded machine to answer meanwhile.
ANSWER_TIMEOUT = 2.0
TIMES = [datetime.datetime(2024, 1, 1, 12, 0, second)
         for second in range(4)]

# Mixed case, trailing spaces and a non-ASCII letter: a database comparing
# strings other than by codepoint (MySQL's case-insensitive, space-padding
# default collation, a PostgreSQL locale) would order them unlike Python.
NAMES = st.one_of(st.none(),
                  st.sampled_from(['a', 'A', 'a ', 'B', 'b', 'e', 'é']),
                  st.text(alphabet='aAbB é', max_size=3))
HOSTS = st.one_of(st.none(), st.sampled_from(['host1', 'host2', 'Host1']))


def instance_rows(cells: int):
    return st.lists(
        st.fixed_dictionaries({
            'uuid': st.uuids().map(str),
            'cell': st.integers(0, cells - 1),
            'display_name': NAMES,
            'host': HOSTS,
            'created_at': st.one_of(st.none(), st.sampled_from(TIMES)),
            'power_state': st.one_of(st.none(), st.integers(0, 2)),
            'project_id': st.sampled_from(['p1', 'p2']),
            'deleted': st.sampled_from([0, 0, 0, 0, 1]),
        }),
        max_size=30, unique_by=lambda row: row['uuid'])


@st.composite
def sorts(draw):
    keys = draw(st.lists(st.sampled_from(SORTABLE), max_size=3,
                         unique=True))
    dirs = draw(st.lists(st.sampled_from(['asc', 'desc']),
                         max_size=len(keys)))
    return keys or None, dirs or None


def in_memory_cell(name: str, url: str):
    return cell_mapping_obj.CellMapping(
        uuid=uuidutils.generate_uuid(), name=name, database_connection=url,
        transport_url='none:///', disabled=False)


class ListingTestBase(base.DatabaseTestCase):
    CELLS = 10

    def setUp(self):
        super().setUp()
        self.urls = self.cell_database_urls(self.CELLS)
        self.cells = [in_memory_cell('cell%d' % index, url)
                      for index, url in enumerate(self.urls)]
        self.engines = [self.engine(url)
                        for url in self.urls + [self.database.main.url]]

    def engine(self, url: str) -> sa.engine.Engine:
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        return engine

    def load(self, rows) -> None:
        """Each row into its cell, and every row into the local main
        database, which serves as the one-database reference."""
        per_cell = [[] for _ in range(self.CELLS)]
        for row in rows:
            values = {key: value for key, value in row.items()
                      if key != 'cell'}
            per_cell[row['cell']].append(values)
        everything = [values for cell_rows in per_cell
                      for values in cell_rows]
        for engine, values in zip(self.engines, per_cell + [everything],
                                  strict=True):
            with engine.begin() as connection:
                connection.execute(sa.delete(INSTANCES))
                if values:
                    connection.execute(sa.insert(INSTANCES), values)

    def list_across(self, **kwargs):
        kwargs.setdefault('cell_mappings', self.cells)
        return instance_list.instance_get_all_across_cells(
            self.context, **kwargs)


class TestMatchesOneDatabase(ListingTestBase):
    """The property: paging across cells == paging one database."""

    def page_across(self, filters, keys, dirs, limit):
        uuids, cells, marker = [], {}, None
        for _ in range(100):
            page = self.list_across(filters=filters, sort_keys=keys,
                                    sort_dirs=dirs, limit=limit,
                                    marker=marker)
            self.assertTrue(page.complete)
            for cell_uuid, instance in page.instances:
                uuids.append(instance.uuid)
                cells[instance.uuid] = cell_uuid
            marker = page.next_marker
            if marker is None:
                return uuids, cells
        raise AssertionError('paging did not end')

    def page_one_database(self, filters, keys, dirs, limit):
        uuids, marker = [], None
        for _ in range(100):
            rows = db_api.instance_get_all_by_filters(
                self.context, filters, keys, dirs, limit=limit,
                marker=marker)
            uuids += [row.uuid for row in rows]
            if len(rows) < limit:
                return uuids
            marker = rows[-1].uuid
        raise AssertionError('paging did not end')

    # The backend subclasses run this same method (differing executors);
    # no example database, so nothing is replayed across them.
    @hypothesis.settings(max_examples=25, deadline=None, database=None,
                         suppress_health_check=[
                             hypothesis.HealthCheck.too_slow,
                             hypothesis.HealthCheck.differing_executors])
    @hypothesis.given(rows=instance_rows(10), sort=sorts(),
                      limit=st.integers(1, 12),
                      filters=st.sampled_from([None, {'project_id': 'p1'}]))
    def test_paging_across_cells_matches_one_database(self, rows, sort,
                                                      limit, filters):
        rows = [dict(row, cell=row['cell'] % self.CELLS) for row in rows]
        self.load(rows)
        keys, dirs = sort

        merged, cells = self.page_across(filters, keys, dirs, limit)

        expected = self.page_one_database(filters, keys, dirs, limit)
        everything = [row.uuid for row in db_api.instance_get_all_by_filters(
            self.context, filters, keys, dirs)]
        self.assertEqual(everything, expected)
        self.assertEqual(expected, merged)
        home = {row['uuid']: self.cells[row['cell']].uuid for row in rows}
        self.assertEqual({uuid: home[uuid] for uuid in merged}, cells)


class TestMatchesOneDatabaseAskingAgain(ListingTestBase):
    """The same property when every cell is first asked for one row only,
    so every page is completed by asking again the cells whose rows it
    used up."""

    page_across = TestMatchesOneDatabase.page_across
    page_one_database = TestMatchesOneDatabase.page_one_database

    @hypothesis.settings(max_examples=15, deadline=None, database=None,
                         suppress_health_check=[
                             hypothesis.HealthCheck.too_slow,
                             hypothesis.HealthCheck.differing_executors])
    @hypothesis.given(rows=instance_rows(10), sort=sorts(),
                      limit=st.integers(1, 12))
    def test_paging_asking_again_matches_one_database(self, rows, sort,
                                                      limit):
        with fixtures.MockPatchObject(instance_list, '_first_batch',
                                      lambda limit, cells: 1):
            self.load(rows)
            keys, dirs = sort

            merged, _cells = self.page_across(None, keys, dirs, limit)

        self.assertEqual(self.page_one_database(None, keys, dirs, limit),
                         merged)


class TestMatchesOneDatabaseMySQL(base.MySQLMixin, TestMatchesOneDatabase):
    CELLS = 3


class TestMatchesOneDatabasePostgreSQL(base.PostgreSQLMixin,
                                       TestMatchesOneDatabase):
    CELLS = 3


def make_rows(cells: int, per_cell: int):
    """Names interleave across cells: name-order pages mix cells."""
    rows = []
    for index in range(cells * per_cell):
        rows.append({'uuid': str(uuid_lib.UUID(int=index + 1)),
                     'cell': index % cells,
                     'display_name': 'vm%03d' % index,
                     'created_at': TIMES[index % len(TIMES)],
                     'project_id': 'p1', 'deleted': 0})
    return rows


class TestListing(ListingTestBase):
    CELLS = 3

    def setUp(self):
        super().setUp()
        self.rows = make_rows(self.CELLS, 4)
        self.load(self.rows)
        self.by_name = [row['uuid'] for row in self.rows]

    def names_page(self, **kwargs):
        page = self.list_across(sort_keys=['display_name'],
                                sort_dirs=['asc'], **kwargs)
        return page, [instance.uuid for _, instance in page.instances]

    def test_a_page_says_which_cell_each_instance_is_in(self):
        page, uuids = self.names_page(limit=5)

        self.assertEqual(self.by_name[:5], uuids)
        for (cell_uuid, instance), row in zip(page.instances, self.rows,
                                              strict=False):
            self.assertEqual(self.cells[row['cell']].uuid, cell_uuid)
            self.assertEqual(row['display_name'], instance.display_name)

    def test_the_marker_may_come_from_any_cell(self):
        for position in (0, 1, 2):  # markers in cell 0, 1 and 2
            _page, uuids = self.names_page(limit=3,
                                           marker=self.by_name[position])
            self.assertEqual(self.by_name[position + 1:position + 4], uuids)

    def test_a_deleted_marker_still_continues_the_listing(self):
        marker = self.by_name[4]
        with self.cells[1].target(self.context) as cctxt:
            db_api.instance_destroy(cctxt, marker)

        _page, uuids = self.names_page(limit=2, marker=marker)

        self.assertEqual(self.by_name[5:7], uuids)

    def test_an_unknown_marker_is_refused(self):
        self.assertRaises(exception.MarkerNotFound, self.names_page,
                          limit=2, marker=uuidutils.generate_uuid())

    def test_each_cell_is_asked_for_at_most_one_page(self):
        original = db_api.instance_page_rows
        returned = []

        def counting(cctxt, *args, **kwargs):
            rows = original(cctxt, *args, **kwargs)
            returned.append(len(rows))
            return rows

        self.useFixture(fixtures.MockPatchObject(
            db_api, 'instance_page_rows', counting))
        page, _uuids = self.names_page(limit=2)

        self.assertEqual(2, len(page.instances))
        self.assertEqual([2] * self.CELLS, returned)

    def test_a_page_from_one_cell_asks_only_that_cell_again(self):
        rows = [{'uuid': str(uuid_lib.UUID(int=index + 1)),
                 'cell': 0 if index < 20 else index % self.CELLS,
                 'display_name': 'vm%03d' % index, 'deleted': 0}
                for index in range(30)]
        self.load(rows)
        original = db_api.instance_page_rows
        asked = []

        def recording(cctxt, *args, **kwargs):
            result = original(cctxt, *args, **kwargs)
            asked.append((cctxt.cell_uuid, len(result)))
            return result

        self.useFixture(fixtures.MockPatchObject(
            db_api, 'instance_page_rows', recording))
        page, uuids = self.names_page(limit=20)

        self.assertEqual([row['uuid'] for row in rows[:20]], uuids)
        self.assertEqual({self.cells[0].uuid}, {
            cell_uuid for cell_uuid, _ in page.instances})
        first = instance_list._first_batch(20, self.CELLS)
        self.assertLess(first, 20)
        # Every cell once, then only cell 0, for the rest of its rows.
        self.assertEqual(self.CELLS + 1, len(asked))
        self.assertEqual((self.cells[0].uuid, 20 - first), asked[-1])

    def test_limit_none_lists_everything_and_zero_nothing(self):
        _page, uuids = self.names_page()
        self.assertEqual(self.by_name, uuids)
        page, uuids = self.names_page(limit=0)
        self.assertEqual([], uuids)
        self.assertIsNone(page.next_marker)

    def test_bad_input_is_refused_before_any_cell_is_asked(self):
        asked = []
        self.useFixture(fixtures.MockPatchObject(
            scatter_gather, 'scatter_gather_cells',
            lambda *args, **kwargs: asked.append(args)))
        self.assertRaises(exception.InvalidSortKey, self.list_across,
                          sort_keys=['no_such_column'])
        self.assertRaises(exception.InvalidSortDirection, self.list_across,
                          sort_keys=['host'], sort_dirs=['up'])
        self.assertRaises(exception.Invalid, self.list_across,
                          filters={'no_such_column': 1})
        self.assertRaises(exception.Invalid, self.list_across, limit=-1)
        self.assertEqual([], asked)


class TestFailingCells(ListingTestBase):
    CELLS = 3

    def setUp(self):
        super().setUp()
        self.rows = make_rows(self.CELLS, 2)
        self.load(self.rows)
        self.failing, self.hanging = self.cells[1], self.cells[2]
        self.gate = self.useFixture(
            hung_cells.HungCells([self.hanging.uuid]))
        original = db_api.instance_page_rows

        def misbehaving(cctxt, *args, **kwargs):
            if cctxt.cell_uuid == self.failing.uuid:
                raise RuntimeError('cell database unreachable')
            self.gate.enter(cctxt.cell_uuid)
            return original(cctxt, *args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(
            db_api, 'instance_page_rows', misbehaving))

    def test_failed_and_unresponsive_cells_are_named(self):
        page = self.list_across(sort_keys=['display_name'], limit=10,
                                timeout=ANSWER_TIMEOUT)

        self.assertFalse(page.complete)
        self.assertEqual([self.failing.uuid], list(page.failed_cells))
        self.assertIsInstance(page.failed_cells[self.failing.uuid],
                              RuntimeError)
        self.assertEqual({self.hanging.uuid}, page.unresponsive_cells)
        self.assertEqual(
            [row['uuid'] for row in self.rows if row['cell'] == 0],
            sorted(instance.uuid for _, instance in page.instances))

    def test_a_hung_cell_costs_one_timeout_even_with_a_marker(self):
        # Two rounds (find the marker, then the page): the hung cell is
        # waited for in the first only. The second does not ask it again,
        # and returns while its first call is still blocked.
        marker = next(row['uuid'] for row in self.rows if row['cell'] == 0)
        page = self.list_across(limit=10, marker=marker,
                                timeout=ANSWER_TIMEOUT)

        self.assertTrue(self.gate.is_blocked(self.hanging.uuid))
        self.assertEqual(1, self.gate.calls[self.hanging.uuid])
        self.assertEqual({self.hanging.uuid}, page.unresponsive_cells)

    def test_a_marker_that_may_be_in_a_silent_cell_is_not_not_found(self):
        self.assertRaises(exception.MarkerCellUnavailable, self.list_across,
                          limit=2, marker=uuidutils.generate_uuid(),
                          timeout=0.5)


class TestAllCellsByDefault(ListingTestBase):
    CELLS = 2

    def setUp(self):
        super().setUp()
        cell_cache.CELL_CACHE.invalidate()
        self.addCleanup(cell_cache.CELL_CACHE.invalidate)
        cell0 = cell_mapping_obj.CellMapping(
            self.context, uuid=cell_mapping_obj.CELL0_UUID, name='cell0',
            database_connection=self.urls[0], transport_url='none:///')
        cell0.create()
        cell1 = cell_mapping_obj.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='cell1',
            database_connection=self.urls[1], transport_url='none:///',
            disabled=True)
        cell1.create()
        self.mapped = [cell0, cell1]

    def test_cell0_and_disabled_cells_are_listed(self):
        rows = make_rows(self.CELLS, 2)
        self.load(rows)

        page = instance_list.instance_get_all_across_cells(
            self.context, sort_keys=['display_name'], sort_dirs=['asc'])

        self.assertEqual(
            [(self.mapped[row['cell']].uuid, row['uuid']) for row in rows],
            [(cell_uuid, instance.uuid)
             for cell_uuid, instance in page.instances])

