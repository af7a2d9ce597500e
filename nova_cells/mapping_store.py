"""What the mapping cache holds, and how a look-up finds it.

The entries of :class:`nova_cells.mapping_cache.MappingCache`: cells by
uuid, the cell list, instance and host mappings (each holding its cell by
uuid, so a changed cell is fixed in one place), and the cells seen
deleted; look-ups that serve an entry only while it is fresh (``[cells]
mapping_cache_ttl``), and stores guarded by an epoch so that a result read
before an invalidation is never kept after it.

Separate from :mod:`nova_cells.mapping_cache`, which decides *when* the
entries may be trusted (the generation check, changes announced on
commit, settings), because this half is the hit path and that half is
not: a hit runs this module's code and, of the coherence, only the one
method that says whether entries may be served now.
"""

import collections
import threading
import typing
from collections.abc import Callable
from typing import Any

from nova_cells import exception

__all__ = [
    'DELETED_CELLS_REMEMBERED',
    'LRU',
    'MappingStore',
]

#: Deleted cells remembered, so that targeting them is refused.
DELETED_CELLS_REMEMBERED = 1000


class LRU(collections.OrderedDict):
    """A dictionary of at most ``maxsize`` entries that drops the least
    recently used first. Not thread-safe: the cache's lock guards it.

    An OrderedDict, whose reordering and eviction run in C: a hit costs
    one lookup and one ``move_to_end``, about a third of cachetools'
    LRUCache, and each entry costs one dictionary slot instead of two.
    """

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def lookup(self, key: Any) -> Any:
        """The value (now the most recently used), or None."""
        try:
            value = self[key]
        except KeyError:
            return None
        self.move_to_end(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.maxsize:
            self.popitem(last=False)


class _WithCell(typing.NamedTuple):
    """An instance or host entry: its cell by uuid, its other columns.
    A tuple, the smallest record Python has (the cache holds 100,000)."""

    cell_uuid: str
    values: tuple
    loaded_at: float


class MappingStore:
    """The entries, their look-ups and their stores, under one lock.

    Look-ups (``get_*``) return None on a miss; the caller reads the API
    database and hands the result to the matching ``put_*`` with the
    epoch it took *before* reading (:meth:`MappingCache.load_token`), so
    a result read before an invalidation is never stored after it.
    Whether entries may be served at all is the subclass's to say
    (:meth:`_now_if_enabled`).
    """

    def __init__(self, clock: Callable[[], float], settings: Any) -> None:
        self._clock = clock
        self._lock = threading.Lock()          # the stores and counters
        #: Read here: ``enabled`` and ``ttl``.
        self._settings = settings
        self._deleted = LRU(DELETED_CELLS_REMEMBERED)
        self._new_stores(1)
        self.epoch = 0
        self._hits = self._misses = self._invalidations = 0

    def _new_stores(self, size: int) -> None:
        self._cells = LRU(size)
        self._instances = LRU(size)
        self._hosts = LRU(size)
        self._cell_list: tuple | None = None   # (uuids, loaded_at)

    def _now_if_enabled(self, ctxt: Any) -> float | None:
        """The time, or None when entries must not be served to ``ctxt``
        (the subclass's coherence decides)."""
        raise NotImplementedError

    def _invalidate_all(self) -> int:
        """Drop every entry (lock held); returns how many there were."""
        count = (len(self._cells) + len(self._instances) +
                 len(self._hosts) + (self._cell_list is not None))
        self._cells.clear()
        self._instances.clear()
        self._hosts.clear()
        self._cell_list = None
        self.epoch += 1
        self._invalidations += count
        return count

    # -- look-ups ---------------------------------------------------------
    def _cell_at(self, uuid: str, now: float) -> Any:
        """The stored cell if fresh, else None (lock held)."""
        entry = self._cells.lookup(uuid)
        if entry is None:
            return None
        if now - entry[1] >= self._settings.ttl:
            del self._cells[uuid]
            return None
        return entry[0]

    def _counted(self, found: Any) -> Any:
        if found is None:
            self._misses += 1
        else:
            self._hits += 1
        return found

    def get_cell(self, ctxt: Any, uuid: str) -> Any:
        """A copy of the cached CellMapping (bound to ``ctxt``), or None."""
        now = self._now_if_enabled(ctxt)
        if now is None:
            return None
        with self._lock:
            cell = self._counted(self._cell_at(uuid, now))
        return None if cell is None else cell.copy_from_cache(ctxt)

    def get_cell_list(self, ctxt: Any) -> list | None:
        """Copies of every cached cell in the cell list's order, or None."""
        now = self._now_if_enabled(ctxt)
        if now is None:
            return None
        with self._lock:
            cells = None
            if self._cell_list is not None:
                uuids, loaded_at = self._cell_list
                if now - loaded_at < self._settings.ttl:
                    cells = [self._cell_at(uuid, now) for uuid in uuids]
                if cells is None or None in cells:
                    cells, self._cell_list = None, None
            self._counted(cells)
        if cells is None:
            return None
        return [cell.copy_from_cache(ctxt) for cell in cells]

    def _get_with_cell(self, store: LRU, ctxt: Any,
                       key: str) -> tuple | None:
        now = self._now_if_enabled(ctxt)
        if now is None:
            return None
        with self._lock:
            entry = store.lookup(key)
            cell = None
            if entry is not None:
                if now - entry.loaded_at < self._settings.ttl:
                    cell = self._cell_at(entry.cell_uuid, now)
                if cell is None:
                    del store[key]
            self._counted(cell)
        if cell is None:
            return None
        return entry.values, cell.copy_from_cache(ctxt)

    def get_instance(self, ctxt: Any, instance_uuid: str) -> tuple | None:
        """``(values, cell)`` cached for an instance mapping, or None."""
        return self._get_with_cell(self._instances, ctxt, instance_uuid)

    def get_host(self, ctxt: Any, host: str) -> tuple | None:
        """``(values, cell)`` cached for a host mapping, or None."""
        return self._get_with_cell(self._hosts, ctxt, host)

    # -- storing what was read ------------------------------------------------
    def _store_cell(self, cell: Any, now: float) -> None:
        """Lock held; ``cell`` is a CellMapping just read."""
        self._deleted.pop(cell.uuid, None)
        self._cells[cell.uuid] = (cell.copy_from_cache(None), now)

    def put_cell(self, cell: Any, epoch: int) -> None:
        if not self._settings.enabled:
            return
        with self._lock:
            if epoch == self.epoch:
                self._store_cell(cell, self._clock())

    def put_cell_list(self, cells: list, epoch: int) -> None:
        if not self._settings.enabled:
            return
        with self._lock:
            if epoch == self.epoch:
                now = self._clock()
                for cell in cells:
                    self._store_cell(cell, now)
                self._cell_list = (tuple(cell.uuid for cell in cells), now)

    def _put_with_cell(self, store: LRU, key: str,
                       cell: Any, values: tuple, epoch: int) -> None:
        if cell is None or not self._settings.enabled:
            return   # never cache an instance that has no cell yet
        with self._lock:
            if epoch == self.epoch:
                now = self._clock()
                self._store_cell(cell, now)
                store[key] = _WithCell(cell.uuid, values, now)

    def put_instance(self, instance_uuid: str, cell: Any, values: tuple,
                     epoch: int) -> None:
        self._put_with_cell(self._instances, instance_uuid, cell, values,
                            epoch)

    def put_host(self, host: str, cell: Any, values: tuple,
                 epoch: int) -> None:
        self._put_with_cell(self._hosts, host, cell, values, epoch)

    # -- deleted cells ------------------------------------------------------
    def refuse_if_deleted(self, cell: Any) -> None:
        """:raises CellDeleted: this process has seen ``cell`` deleted."""
        if self._deleted and cell.uuid in self._deleted:
            raise exception.CellDeleted(cell=cell.identity)
