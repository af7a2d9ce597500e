"""One page of instances from every cell, merged in sort order.

:func:`instance_get_all_across_cells` answers a listing the way one
database holding every cell's rows would: same filters, same order, same
pages. It reads only what the page can show:

1. With a marker (the uuid of the last instance of the previous page, from
   whichever cell), every cell is asked for that instance's sort values,
   deleted rows included (the marker may have been deleted since the
   previous page was served). No cell has it: :exc:`MarkerNotFound`.
2. Every cell is asked for its first rows strictly after those values
   (:meth:`SortOrder.after_clause`), already sorted by its database
   through the sort keys' indexes: not a whole page each, but twice its
   even share of the page plus a few (:func:`_first_batch`), as Core rows.
3. A k-way merge (:func:`heapq.merge` with :meth:`SortOrder.merge_key`,
   which orders values as the databases do) takes the first ``limit``.
   A cell whose rows were all used may hold more that belong on the page:
   only those cells are asked again, for as many rows more, after their
   own last row, until no cell can change the page (or each has sent a
   whole page). Rows spread across cells need no second ask; a page that
   all comes from one cell needs a few.

Only the page's rows become objects (read-only instance records); the
statement of the first ask is built once per listing (per database
dialect), not once per cell.

The sort always ends with ``uuid``, so the order is total: pages never
overlap or skip rows, whichever cells the rows live in.

Each ask waits at most the scatter-gather timeout. A cell that hangs in
one is stuck by the next and answered at once (see
:mod:`nova_cells.scatter_gather`), so a hung cell costs about one timeout
per page, not two. A cell that fails on a later ask keeps the rows it sent
before, and is named as failed.

A failed or unresponsive cell does not fail the listing: its rows are
missing from the page and the page says so, in
:attr:`InstanceListPage.failed_cells` and
:attr:`InstanceListPage.unresponsive_cells`. Bad input (sort keys,
directions, filters, limit) is refused before any cell is asked.

Each instance comes as a :class:`CellInstance` ``(cell_uuid, instance)``
pair, so a caller knows which cell to target to act on it without a
second look-up; the instance is a read-only
:class:`~nova_cells.db.sqlalchemy.records.InstanceRecord`.
"""

import collections
import dataclasses
import functools
import heapq
import itertools
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

from nova_cells import cell_cache
from nova_cells import exception
from nova_cells import scatter_gather
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.db.sqlalchemy import pagination
from nova_cells.db.sqlalchemy import records
from nova_cells.db.sqlalchemy.statements import instance_page_statement

__all__ = [
    'CellInstance',
    'InstanceListPage',
    'instance_get_all_across_cells',
    'merge_sorted',
]

_INSTANCES = models.Instance.__table__
_ALL_COLUMNS = tuple(_INSTANCES.c)


class CellInstance(NamedTuple):
    """An instance row and the uuid of the cell it lives in."""

    cell_uuid: str
    instance: Any  # an InstanceRecord; a sort-values row while merging


@dataclasses.dataclass(frozen=True)
class InstanceListPage:
    """One merged page and the cells whose rows may be missing from it."""

    #: The page, in sort order.
    instances: list[CellInstance]
    #: ``{cell_uuid: exception}`` for each cell that raised.
    failed_cells: dict[str, BaseException]
    #: Cells that did not answer in time (or were stuck in earlier calls).
    unresponsive_cells: frozenset[str]
    #: The page size asked for (``None``: everything).
    limit: int | None = None

    @property
    def complete(self) -> bool:
        """True when every cell answered, so nothing can be missing."""
        return not self.failed_cells and not self.unresponsive_cells

    @property
    def next_marker(self) -> str | None:
        """The marker for the next page, or ``None`` if this was the last.

        A full page may still be followed by an empty one.
        """
        if self.limit is None or len(self.instances) < self.limit:
            return None
        if not self.instances:
            return None
        return self.instances[-1].instance.uuid


def _statements(ctxt, filters: dict | None, order: pagination.SortOrder,
                limit: int | None, after: tuple | None,
                columns: Sequence[Any]):
    """``dialect -> statement`` for one round, each built on first use:
    the same statement serves every cell of a dialect."""
    @functools.cache
    def statement_for(dialect: str):
        return instance_page_statement(
            ctxt, filters, order, limit, after, dialect=dialect,
            columns=columns)
    return statement_for


def _sort_columns(order: pagination.SortOrder) -> list:
    return [_INSTANCES.c[key] for key in order.keys]


_FILTERABLE = frozenset(_INSTANCES.columns.keys())


def _check_filters(filters: dict | None) -> None:
    """Refuse unknown filters up front: asked of every cell, they would
    come back as one identical failure per cell instead of one error."""
    unknown = sorted(set(filters or ()) - _FILTERABLE)
    if unknown:
        raise exception.Invalid('Unknown instance filter(s): %s' %
                                ', '.join(unknown))


def _split_failures(outcomes: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, BaseException],
                               frozenset[str]]:
    answered, failed, unresponsive = {}, {}, set()
    for cell_uuid, outcome in outcomes.items():
        if outcome is scatter_gather.did_not_respond_sentinel:
            unresponsive.add(cell_uuid)
        elif isinstance(outcome, BaseException):
            failed[cell_uuid] = outcome
        else:
            answered[cell_uuid] = outcome
    return answered, failed, frozenset(unresponsive)


def _find_marker(ctxt, cells: Sequence[Any], timeout: float | None,
                 marker: str, order: pagination.SortOrder) -> tuple:
    statement_for = _statements(
        ctxt.elevated(read_deleted='yes'), {'uuid': marker}, order, 1,
        None, _sort_columns(order))
    outcomes = scatter_gather.scatter_gather_cells(
        ctxt, cells, timeout, db_api.instance_page_rows, statement_for)
    answered, failed, unresponsive = _split_failures(outcomes)
    # Cells in the order given, so a (corrupt) duplicate resolves the same
    # way every time.
    for cell in cells:
        rows = answered.get(cell.uuid)
        if rows:
            return tuple(rows[0])
    if failed or unresponsive:
        raise exception.MarkerCellUnavailable(
            marker=marker, cells=', '.join(sorted(set(failed) |
                                                  unresponsive)))
    raise exception.MarkerNotFound(marker=marker)


def _tagged(cell_uuid: str, rows: Iterable[Any]
            ) -> Iterable[CellInstance]:
    # A function of its own so each stream keeps its own cell_uuid (a
    # generator expression would see the loop variable's last value).
    return (CellInstance(cell_uuid, row) for row in rows)


def merge_sorted(pages: dict[str, Iterable[Any]],
                 order: pagination.SortOrder,
                 limit: int | None) -> list[CellInstance]:
    """K-way merge of per-cell pages, each already in ``order``; only the
    first ``limit`` rows are ever compared."""
    streams = [_tagged(cell_uuid, rows) for cell_uuid, rows in pages.items()]
    row_key, reverse = order.merge_key()
    merged = heapq.merge(*streams, key=lambda item: row_key(item.instance),
                         reverse=reverse)
    return list(itertools.islice(merged, limit))


def _first_batch(limit: int | None, cell_count: int) -> int | None:
    """Rows to ask each cell for first: twice its even share of the page,
    plus a few, so that rows spread across cells rarely need a second
    round (never more than the page: no cell can show more)."""
    if limit is None:
        return None
    return min(limit, 2 * -(-limit // max(cell_count, 1)) + 5)


class _Fetched:
    """What the merged listing has read of each cell so far."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.rows: dict[str, list] = {}
        #: Cells that may hold more rows the page could need: uuid ->
        #: rows asked of it so far.
        self.open: dict[str, int] = {}
        self.failed: dict[str, BaseException] = {}
        self.unresponsive: set[str] = set()

    def add(self, outcomes: dict[str, Any], asked: dict[str, int]) -> None:
        answered, failed, unresponsive = _split_failures(outcomes)
        self.failed.update(failed)
        self.unresponsive |= unresponsive
        for cell_uuid in (*failed, *unresponsive):
            self.open.pop(cell_uuid, None)  # its rows so far still count
        for cell_uuid, rows in answered.items():
            self.rows.setdefault(cell_uuid, []).extend(rows)
            self.open.pop(cell_uuid, None)
            if self.limit is None or len(rows) < asked[cell_uuid]:
                continue  # it sent all it has
            total = len(self.rows[cell_uuid])
            if total < self.limit:
                self.open[cell_uuid] = total

    def needing_more(self, page: list[CellInstance]) -> dict[str, int]:
        """``{cell_uuid: rows to ask}`` of the open cells whose rows the
        page used up: rows they have not sent could belong on the page.
        Each asks for as many again as before (capped at the page)."""
        short = len(page) < (self.limit or 0)
        used = collections.Counter(item.cell_uuid for item in page)
        return {cell_uuid: min(asked, self.limit - asked)
                for cell_uuid, asked in self.open.items()
                if short or used[cell_uuid] == len(self.rows[cell_uuid])}


def _rows_after(cctxt, statements: dict[str, Any]) -> list:
    """A cell's next rows, by its own statement (it has its own marker)."""
    return db_api.instance_page_rows(cctxt, statements[cctxt.cell_uuid])


def _merged_page(ctxt, cells: Sequence[Any], timeout: float | None,
                 filters: dict | None, order: pagination.SortOrder,
                 limit: int | None, after: tuple | None
                 ) -> tuple[list[CellInstance], '_Fetched']:
    """Read and merge until the first ``limit`` rows are known."""
    batch = _first_batch(limit, len(cells))
    fetched = _Fetched(limit)
    statement_for = _statements(ctxt, filters, order, batch, after,
                                _ALL_COLUMNS)
    fetched.add(scatter_gather.scatter_gather_cells(
        ctxt, cells, timeout, db_api.instance_page_rows, statement_for),
        dict.fromkeys((cell.uuid for cell in cells), batch))
    by_uuid = {cell.uuid: cell for cell in cells}
    while True:
        page = merge_sorted(fetched.rows, order, limit)
        wanted = fetched.needing_more(page)
        if not wanted:
            return page, fetched
        statements = {
            cell_uuid: _statements(
                ctxt, filters, order, size, order.values_of(
                    fetched.rows[cell_uuid][-1]), _ALL_COLUMNS)
            for cell_uuid, size in wanted.items()}

        fetched.add(scatter_gather.scatter_gather_cells(
            ctxt, [by_uuid[cell_uuid] for cell_uuid in wanted], timeout,
            _rows_after, statements), wanted)


def instance_get_all_across_cells(
        ctxt, filters: dict | None = None,
        sort_keys: Sequence[str] | None = None,
        sort_dirs: Sequence[str] | None = None,
        limit: int | None = None, marker: str | None = None,
        cell_mappings: Iterable[Any] | None = None, *,
        timeout: float | None = None) -> InstanceListPage:
    """One page of instances from every cell, merged in sort order.

    :param filters: as for ``instance_get_all_by_filters`` (exact match, a
        list means any of, ``deleted`` overrides ``ctxt.read_deleted``).
    :param sort_keys, sort_dirs: default newest first; ``uuid`` is always
        the last key.
    :param limit: page size; ``None`` returns every matching instance.
    :param marker: uuid of the last instance of the previous page, from
        any cell.
    :param cell_mappings: the cells to list (default: every cell, cell0
        and disabled cells included, from the cached cell list).
    :param timeout: seconds to wait per round (default ``[cells]
        scatter_gather_timeout``).
    :raises InvalidSortKey, InvalidSortDirection, Invalid: bad input,
        refused before any cell is asked.
    :raises MarkerNotFound: no cell has the marker.
    :raises MarkerCellUnavailable: no cell that answered has the marker,
        and some did not answer.
    """
    order = pagination.SortOrder.build(sort_keys, sort_dirs)
    _check_filters(filters)
    if limit is not None and limit < 0:
        raise exception.Invalid('limit must not be negative, got %d' % limit)
    if cell_mappings is None:
        cells = list(cell_cache.CELL_CACHE.get(ctxt))
    else:
        cells = list(cell_mappings)
    after = None
    if marker is not None:
        after = _find_marker(ctxt, cells, timeout, marker, order)
    if limit == 0:
        return InstanceListPage([], {}, frozenset(), limit)
    page, fetched = _merged_page(ctxt, cells, timeout, filters, order,
                                 limit, after)
    return InstanceListPage(
        [CellInstance(cell_uuid, records.InstanceRecord(row._mapping))
         for cell_uuid, row in page],
        fetched.failed, frozenset(fetched.unresponsive), limit)
