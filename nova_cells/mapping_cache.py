"""Mapping look-ups served from memory, never routing wrong (design D10).

What is cached, per process
    Cell mappings by uuid, the list of every cell, instance uuid -> cell
    (with the rest of the instance mapping's row) and host -> cell. Each
    kind is an LRU of at most ``[cells] mapping_cache_size`` entries
    (:class:`LRU`), guarded by one lock. An instance or host entry holds its
    cell by uuid, so a changed cell is fixed in one place and every
    mapping into it follows. Nothing is cached for a look-up that found
    nothing (no negative caching), and an instance mapping without a cell
    (not scheduled yet) is never cached.

Who sees a change when
    * A change made through nova_cells (the mapping objects' ``create``,
      ``save`` and ``destroy``, ``InstanceMappingList.destroy_bulk``,
      ``delete_cell``) drops the affected entries in its own process as
      its transaction commits, before the call returns.
    * Those of them that can make a cached entry wrong (a cell created,
      changed or deleted; an instance or host mapping changed or deleted)
      also bump a generation counter in the API database, in the same
      transaction (:mod:`nova_cells.db.sqlalchemy.mapping_generation`).
      Creating an instance or host mapping, or giving an unscheduled
      instance its first cell, does not: nobody can have cached what did
      not exist, and booting instances must not contend on one row.
    * Every process reads the generation at most once per ``[cells]
      mapping_cache_check_interval`` seconds, on the first look-up after
      the interval (one small query; look-ups waiting for it wait, so none
      answers from a state older than the interval). A new generation
      drops the whole cache; cells that disappeared from the API database
      are remembered as deleted, and targeting them is refused
      (:class:`~nova_cells.exception.CellDeleted`).
    * A change made behind nova_cells' back (plain SQL, Nova itself) bumps
      nothing: an entry is served at most ``[cells] mapping_cache_ttl``
      seconds after it was read, then read again.
    * Settings are read at each check too, so a changed option takes effect
      within the check interval; :meth:`MappingCache.reset` applies them
      at once (and forgets everything).

A routed read that finds no instance in the cell a cached mapping named
looks the mapping up again before reporting it missing
(:func:`nova_cells.objects.instance_mapping.call_in_instance_cell`).
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import mapping_store
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import mapping_generation
from nova_cells.db.sqlalchemy import routing
from nova_cells.mapping_store import DELETED_CELLS_REMEMBERED
from nova_cells.mapping_store import LRU
from nova_cells.urls import mask_text

__all__ = [
    'CACHE',
    'DELETED_CELLS_REMEMBERED',
    'LRU',
    'MappingCache',
    'Settings',
    'Stats',
    'read_settings',
    'stats',
]

LOG = logging.getLogger(__name__)

_CELL_UUIDS = sa.select(api_models.CellMapping.__table__.c.uuid)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``[cells]`` options of the cache, read together."""

    enabled: bool
    size: int
    check_interval: float
    ttl: float
    #: The API database the entries came from; another one drops them.
    source: str | None


#: Until the first check: nothing cached, nothing served.
_UNREAD = Settings(False, 1, 0.0, 0.0, None)


def read_settings() -> Settings:
    """From the configuration the connection registry was given, as every
    other option (one configuration source)."""
    conf = connections.get_registry().conf
    cells = conf.cells
    return Settings(cells.mapping_cache, cells.mapping_cache_size,
                    cells.mapping_cache_check_interval,
                    cells.mapping_cache_ttl, conf.api_database.connection)


@dataclasses.dataclass(frozen=True)
class Stats:
    """What :meth:`MappingCache.stats` reports."""

    enabled: bool
    hits: int
    misses: int
    #: Entries dropped because something changed (in this process or, by
    #: the generation, in another), plus whole-cache drops counted once.
    invalidations: int
    #: Coherence checks made (generation reads).
    checks: int
    generation: int | None
    #: Seconds since the last coherence check; None before the first.
    last_check_age: float | None
    cells: int
    instances: int
    hosts: int
    deleted_cells: int


class MappingCache(mapping_store.MappingStore):
    """The per-process mapping cache; :data:`CACHE` is the one in use.

    The entries, look-ups and ``put_*`` are
    :class:`~nova_cells.mapping_store.MappingStore`'s; this class decides
    when they may be served. A look-up that missed passes ``put_*`` the
    :meth:`load_token` it took *before* reading, so a result read before
    an invalidation is never stored after it, nor one read inside a
    transaction (which may roll back).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock, _UNREAD)
        self._check_lock = threading.Lock()    # one coherence check at once
        self._next_check = 0.0
        self._generation: int | None = None
        self._last_check: float | None = None
        self._unreadable_logged = False
        self._checks = 0

    # -- coherence ------------------------------------------------------------
    def load_token(self, ctxt: Any) -> int | None:
        """What a look-up that missed passes to ``put_*`` once it has read
        the API database: the current :attr:`epoch`, or None (store
        nothing) when ``ctxt`` is inside a transaction, whose reads may
        see writes that are not committed yet and may roll back."""
        return None if _in_transaction(ctxt) else self.epoch

    def _now_if_enabled(self, ctxt: Any) -> float | None:
        """The time, or None when the cache is off or must not be used
        for ``ctxt``; checks the generation when due.

        Inside a transaction the cache is bypassed: the transaction's own
        writes are only announced when it commits, so until then only the
        database knows them.
        """
        if _in_transaction(ctxt):
            return None
        now = self._clock()
        if now >= self._next_check:
            self._check()
        return now if self._settings.enabled else None

    def _check(self) -> None:
        with self._check_lock:
            now = self._clock()
            if now < self._next_check:
                return   # another thread checked while this one waited
            settings = read_settings()
            with self._lock:
                if settings != self._settings:
                    self._apply(settings)
            if settings.enabled:
                self._follow_generation()
            self._last_check = now
            self._next_check = now + settings.check_interval

    def _apply(self, settings: Settings) -> None:
        """Take new settings (lock held); anything but the intervals
        changing drops what is cached."""
        old = self._settings
        if (old.enabled, old.size, old.source) != (
                settings.enabled, settings.size, settings.source):
            self._invalidate_all()
            self._new_stores(settings.size)
            self._deleted.clear()
            self._generation = None
        self._settings = settings

    def _follow_generation(self) -> None:
        ctxt = nova_context.get_admin_context()
        try:
            generation = mapping_generation.read(ctxt)
        except Exception as error:
            self._unverifiable(error)
            return
        self._unreadable_logged = False
        with self._lock:
            self._checks += 1
            if generation == self._generation:
                if LOG.isEnabledFor(logging.DEBUG):
                    LOG.debug('Mapping cache: generation %s unchanged; %s',
                              generation, self._stats_locked())
                return
            known = set(self._cells.keys())
            if self._cell_list is not None:
                known.update(self._cell_list[0])
        gone: set = set()
        existing: set = set()
        if known:
            try:
                existing = _existing_cells(ctxt)
                gone = known - existing
            except Exception as error:
                LOG.debug('Mapping cache: cannot list cells: %s',
                          mask_text(str(error)))
        with self._lock:
            dropped = self._invalidate_all()
            for uuid in gone:
                self._deleted[uuid] = True
            for uuid in existing:
                self._deleted.pop(uuid, None)
            previous, self._generation = self._generation, generation
        LOG.debug('Mapping cache: generation %s -> %s, %d entries dropped, '
                  'deleted cells seen: %s; %s', previous, generation,
                  dropped, ', '.join(sorted(gone)) or 'none', self.stats())

    def _unverifiable(self, error: Exception) -> None:
        """The generation cannot be read: serve nothing cached until it
        can (reads go to the API database, as with the cache off)."""
        if not self._unreadable_logged:
            LOG.warning('Mapping cache: cannot read the mapping generation '
                        'from the API database (%s); mappings are read '
                        'from the API database until it can be read. Run '
                        '"nova-cells-manage api_db sync" if the API '
                        'database is not at the latest revision.',
                        mask_text(str(error)))
            self._unreadable_logged = True
        with self._lock:
            self._invalidate_all()
            self._generation = None

    def reset(self) -> None:
        """Forget everything, settings included (read again on the next
        look-up): for a reconfigured process, and between tests."""
        with self._check_lock, self._lock:
            self._invalidate_all()
            self._deleted.clear()
            self._settings = _UNREAD
            self._generation = None
            self._last_check = None
            self._next_check = 0.0
            self._hits = self._misses = self._invalidations = 0
            self._checks = 0

    # -- changes made in this process ------------------------------------
    def announce(self, session: Any, *, bump: bool = True,
                 cells: Iterable[str] = (),
                 deleted_cells: Iterable[str] = (),
                 instances: Iterable[str] = (),
                 hosts: Iterable[str] = ()) -> None:
        """Record a change written in ``session``'s open transaction.

        ``bump`` adds one to the API database's generation in that same
        transaction (for a change another process's cache must follow).
        When the transaction commits, the entries named are dropped here
        (a cell change drops the cell list too; a deleted cell is then
        refused to targeting). Called whether or not this process caches:
        other processes may.
        """
        generation = mapping_generation.bump(session) if bump else None
        what = (tuple(cells), tuple(deleted_cells), tuple(instances),
                tuple(hosts))

        def committed(_session: Any) -> None:
            self.forget(*what, new_generation=generation)

        sa.event.listen(session, 'after_commit', committed, once=True)

    def forget(self, cells: Iterable[str] = (),
               deleted_cells: Iterable[str] = (),
               instances: Iterable[str] = (), hosts: Iterable[str] = (),
               new_generation: int | None = None) -> None:
        """Drop the entries named; see :meth:`announce`.

        ``new_generation`` is the generation this process's own change
        produced: if it directly follows the one this cache has checked,
        nobody else changed anything meanwhile and the next check need not
        drop the whole cache.
        """
        with self._lock:
            self.epoch += 1
            dropped = 0
            cell_changed = False
            for uuid in (*cells, *deleted_cells):
                cell_changed = True
                dropped += self._cells.pop(uuid, None) is not None
            if self._settings.enabled:
                for uuid in deleted_cells:
                    self._deleted[uuid] = True
            if cell_changed and self._cell_list is not None:
                self._cell_list = None
                dropped += 1
            for uuid in instances:
                dropped += self._instances.pop(uuid, None) is not None
            for host in hosts:
                dropped += self._hosts.pop(host, None) is not None
            self._invalidations += dropped
            if (new_generation is not None and self._generation is not None
                    and new_generation == self._generation + 1):
                self._generation = new_generation
        if dropped:
            LOG.debug('Mapping cache: %d entries dropped after a change '
                      'in this process', dropped)

    # -- observability ----------------------------------------------------
    def stats(self) -> Stats:
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> Stats:
        age = (None if self._last_check is None
               else max(0.0, self._clock() - self._last_check))
        return Stats(
            enabled=self._settings.enabled, hits=self._hits,
            misses=self._misses, invalidations=self._invalidations,
            checks=self._checks, generation=self._generation,
            last_check_age=age, cells=len(self._cells),
            instances=len(self._instances), hosts=len(self._hosts),
            deleted_cells=len(self._deleted))


def _in_transaction(ctxt: Any) -> bool:
    """Whether oslo.db has a transaction open for ``ctxt`` in this thread
    (its per-context, per-thread state; absent on a fresh context)."""
    by_thread = getattr(ctxt, '_enginefacade_context', None)
    return getattr(by_thread, 'current', None) is not None


@routing.api_connection_reader
def _existing_cells(context: Any) -> set:
    return set(context.connection.execute(_CELL_UUIDS).scalars())


#: The process-wide cache every mapping object uses.
CACHE = MappingCache()


def stats() -> Stats:
    """Hits, misses, invalidations and the age of the last coherence
    check of this process's mapping cache."""
    return CACHE.stats()
