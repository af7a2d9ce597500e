"""The cached list of cells that all-cells fan-out goes to.

:func:`nova_cells.scatter_gather.scatter_gather_all_cells`, the merged
instance listing and anything else that means "every cell" read
:data:`CELL_CACHE`; the operator commands that add, change or delete a
cell invalidate it, so this process sees the change at once (other
processes within ``[cells] cell_cache_ttl`` seconds). With ``[cells]
mapping_cache`` on (the default) this list is not kept: every call reads
the mapping cache's, which other processes' changes reach within its
check interval. Options come from
the configuration the connection registry was given.
"""

import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from nova_cells import connections

__all__ = ['CELL_CACHE', 'CellListCache', 'load_cell_mappings']


def load_cell_mappings(ctxt) -> Sequence[Any]:
    """Every cell mapping in the API database, ordered by id.

    Imported here, not at the top: the objects layer builds on the DB API
    and may itself fan out, and this module must import without it.
    """
    from nova_cells.objects import cell_mapping

    return list(cell_mapping.CellMappingList.get_all(ctxt))


class CellListCache:
    """The cell list for all-cells fan-out, reloaded when older than
    ``[cells] cell_cache_ttl`` seconds (0: loaded on every call).

    Nova loads it once per process, so a cell added, disabled or deleted
    since needs a restart or SIGHUP to be seen; here it is seen within the
    TTL. The list is also reloaded at once when ``[api_database]
    connection`` changes (a reconfigured process, or the next test), since
    it then describes another deployment. One caller loads while others
    wait, so an expiry under load costs one API database query, not one
    per caller. A failed load raises and keeps nothing, so the next call
    tries again.
    """

    def __init__(self, loader: Callable[[Any], Sequence[Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._loader = loader or load_cell_mappings
        self._clock = clock
        self._lock = threading.Lock()
        self._cells: tuple | None = None
        self._loaded_at = 0.0
        self._source: str | None = None

    def get(self, ctxt) -> tuple:
        conf = connections.get_registry().conf
        ttl = conf.cells.cell_cache_ttl
        if ttl <= 0 or conf.cells.mapping_cache:
            # The mapping cache keeps the list coherent across processes.
            return tuple(self._loader(ctxt))
        source = conf.api_database.connection
        with self._lock:
            if (self._cells is None or source != self._source or
                    self._clock() - self._loaded_at >= ttl):
                self._cells = tuple(self._loader(ctxt))
                self._loaded_at = self._clock()
                self._source = source
            return self._cells

    def invalidate(self) -> None:
        """Forget the list: the next call loads it again."""
        with self._lock:
            self._cells = None

    def replace_loader(self, loader: Callable[[Any], Sequence[Any]] | None
                       ) -> Callable[[Any], Sequence[Any]]:
        """Load cells with ``loader`` from now on (``None``: the API
        database); returns the previous loader. Invalidates the cache."""
        with self._lock:
            previous = self._loader
            self._loader = loader or load_cell_mappings
            self._cells = None
        return previous


#: The process-wide cell list used by the all-cells calls.
CELL_CACHE = CellListCache()
