"""One page of instances from every cell, merged in sort order.

:func:`instance_get_all_across_cells` answers a listing the way one
database holding every cell's rows would: same filters, same order, same
pages. It works in two scatter-gather rounds:

1. With a marker (the uuid of the last instance of the previous page, from
   whichever cell), every cell is asked for that instance's sort values,
   deleted rows included (the marker may have been deleted since the
   previous page was served). No cell has it: :exc:`MarkerNotFound`.
2. Every cell is asked for at most ``limit`` rows strictly after those
   values (:meth:`SortOrder.after_clause`), already sorted by its
   database; a k-way merge (:func:`heapq.merge` with
   :meth:`SortOrder.sort_key`, which orders values as the databases do)
   keeps the first ``limit``.

The sort always ends with ``uuid``, so the order is total: pages never
overlap or skip rows, whichever cells the rows live in.

Each round waits at most the scatter-gather timeout. A cell that hangs in
the first round is stuck by the second and answered at once (see
:mod:`nova_cells.scatter_gather`), so a hung cell costs about one timeout
per page, not two.

A failed or unresponsive cell does not fail the listing: its rows are
missing from the page and the page says so, in
:attr:`InstanceListPage.failed_cells` and
:attr:`InstanceListPage.unresponsive_cells`. Bad input (sort keys,
directions, filters, limit) is refused before any cell is asked.

Each instance comes as a :class:`CellInstance` ``(cell_uuid, instance)``
pair, so a caller knows which cell to target to act on it without a
second look-up.
"""

import dataclasses
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


class CellInstance(NamedTuple):
    """An instance row and the uuid of the cell it lives in."""

    cell_uuid: str
    instance: models.Instance


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


def _marker_values(cctxt, marker: str,
                   order: pagination.SortOrder) -> tuple | None:
    """The marker's sort values if it is in this cell, deleted or not."""
    rows = db_api.instance_get_all_by_filters(
        cctxt.elevated(read_deleted='yes'), {'uuid': marker},
        order.keys, order.dirs, limit=1)
    return order.values_of(rows[0]) if rows else None


def _cell_page(cctxt, filters: dict | None, order: pagination.SortOrder,
               limit: int | None, after: tuple | None
               ) -> list[models.Instance]:
    return db_api.instance_get_all_by_filters(
        cctxt, filters, order.keys, order.dirs, limit=limit, after=after)


_FILTERABLE = frozenset(models.Instance.__table__.columns.keys())


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
    outcomes = scatter_gather.scatter_gather_cells(
        ctxt, cells, timeout, _marker_values, marker, order)
    answered, failed, unresponsive = _split_failures(outcomes)
    # Cells in the order given, so a (corrupt) duplicate resolves the same
    # way every time.
    for cell in cells:
        values = answered.get(cell.uuid)
        if values is not None:
            return values
    if failed or unresponsive:
        raise exception.MarkerCellUnavailable(
            marker=marker, cells=', '.join(sorted(set(failed) |
                                                  unresponsive)))
    raise exception.MarkerNotFound(marker=marker)


def _tagged(cell_uuid: str, rows: Iterable[models.Instance]
            ) -> Iterable[CellInstance]:
    # A function of its own so each stream keeps its own cell_uuid (a
    # generator expression would see the loop variable's last value).
    return (CellInstance(cell_uuid, row) for row in rows)


def merge_sorted(pages: dict[str, Iterable[models.Instance]],
                 order: pagination.SortOrder,
                 limit: int | None) -> list[CellInstance]:
    """K-way merge of per-cell pages, each already in ``order``."""
    streams = [_tagged(cell_uuid, rows) for cell_uuid, rows in pages.items()]
    merged = heapq.merge(
        *streams, key=lambda item: order.sort_key(item.instance))
    return list(itertools.islice(merged, limit))


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
    outcomes = scatter_gather.scatter_gather_cells(
        ctxt, cells, timeout, _cell_page, filters, order, limit, after)
    answered, failed, unresponsive = _split_failures(outcomes)
    return InstanceListPage(merge_sorted(answered, order, limit), failed,
                            unresponsive, limit)
