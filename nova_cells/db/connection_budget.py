"""Connections to cell databases as one budget, and idle cells evicted.

Every cell a process touches gets an oslo.db facade with its own pool, so
connections multiply with cells: N cells x W workers x pool size. This
module keeps them bounded (design decision D13):

* **Counted where they are opened and closed.** Each cell engine's pool
  creator is wrapped (:meth:`ConnectionBudget.install`): a permit is taken
  *before* a connection is opened and given back when the pool closes it
  (``close``, ``detach`` and invalidation events), or if opening fails.
  Checkouts and checkins tell which cells have connections in use.
* **A process-wide cap** (``[cell_database] max_total_connections``; 0 =
  none). At the cap, the least recently used cell with no connection in
  use gives its idle connections back (failing that, the least recently
  used one with idle connections beside those in use) and the new
  connection takes the freed permit. When every connection is in use,
  the caller waits up to ``pool_timeout`` for one to be closed, then gets
  :exc:`~nova_cells.exception.ConnectionBudgetExhausted` naming the budget
  and how to raise it.
* **Giving connections back keeps the engine.** A cell evicted at the cap
  only has the idle connections of its pool closed (the pool itself, its
  engine and facade stay): with many more cells than the budget, nearly
  every call into a cell needs a connection another cell gives back, and
  it must cost about what opening a connection costs, not an oslo.db
  facade and SQLAlchemy engine rebuilt from scratch (tens of times more).
  Only ``QueuePool`` pools are drained in place (every cell pool here is
  one); any other pool falls back to dropping the facade.
* **Idle cells give their engines back too.** A daemon thread drops every
  cell not used for ``[cell_database] idle_timeout`` seconds (0 = never)
  and with nothing in use: its connections are closed and the registry
  forgets its facade (engine, pool, dialect), so an idle cell costs only
  its mapping; the next call builds a new one, transparently.
* **No connection in use is ever closed, and no call in flight breaks.**
  Draining takes only connections sitting idle in the pool's queue; one
  checked out meanwhile stays open and counted. Dropping a facade first
  *retires* its pools (every connection checked in from then on is
  closed, giving its permit back), then disposes them (closing the idle
  ones). A call that took the facade just before it was dropped still
  works: it checks out from the retired pool, which opens a connection
  within the budget and closes it when the call returns it.

The registry calls :meth:`touched` on every routed call (the LRU order) and
:meth:`retire` before disposing a cell facade; :meth:`stats` gives the
counts per cell, the total, the evictions and the engines dropped.
"""

import collections
import threading
import time
import weakref
from collections.abc import Callable

import sqlalchemy

from nova_cells import exception
from nova_cells.db import idle_pool

__all__ = [
    'ConnectionBudget',
]

# Marks a pool connection record that holds a permit (its cell key).
_PERMIT = 'nova_cells_budget_key'
_FINALIZER = 'nova_cells_budget_finalizer'
# Marks a record checked out (a failed reconnect is checked in without it).
_IN_USE = 'nova_cells_budget_in_use'
# Bounds on how often the idle reaper wakes up.
_REAPER_MIN_INTERVAL = 0.01
_REAPER_MAX_INTERVAL = 10.0
# Seconds to wait before looking for another victim when the last one had
# no idle connection left to close.
_NOTHING_CLOSED_WAIT = 0.001


class _PoolState:
    """What the listeners of one cell pool need to know."""

    __slots__ = ('key', 'retired', 'pool', '__weakref__')

    def __init__(self, key: str, pool):
        self.key = key
        self.retired = False
        self.pool = weakref.ref(pool)


class ConnectionBudget:
    """Counts, caps and gives back the connections of cell databases."""

    def __init__(self, forget: Callable[[str], None]):
        #: ``forget(key)`` drops cell ``key``'s facade from the registry
        #: (without touching its pools: this module closes them).
        self._forget = forget
        self._lock = threading.RLock()
        self._closed = threading.Condition(self._lock)
        self.limit = 0
        self.idle_timeout = 0.0
        self.wait_timeout = 30.0
        self._open: collections.Counter = collections.Counter()
        self._in_use: collections.Counter = collections.Counter()
        # Connections being opened: counted, neither idle nor checked out
        # yet, so their cell is no victim.
        self._opening: collections.Counter = collections.Counter()
        # Cells a thread is evicting now: no other thread picks them too
        # (it would find nothing left to close and have to wait).
        self._evicting: set[str] = set()
        # Least recently used first; only cells that hold a facade.
        self._last_used: collections.OrderedDict = collections.OrderedDict()
        # The same order, only cells holding connections: where a victim
        # is looked for at the cap (a few dozen cells, not a thousand).
        self._holding: collections.OrderedDict = collections.OrderedDict()
        self._pools: dict[str, weakref.WeakSet] = {}
        self._names: dict[str, str] = {}
        self.evictions = 0
        self.engines_dropped = 0
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    # -- configuration ----------------------------------------------------
    def configure(self, limit: int, idle_timeout: float,
                  wait_timeout: float | None) -> None:
        with self._lock:
            self.limit = limit or 0
            self.idle_timeout = idle_timeout or 0.0
            self.wait_timeout = 30.0 if wait_timeout is None else wait_timeout
        self._start_reaper()

    def reset(self) -> None:
        """Stop the idle reaper and zero the eviction count (the registry
        is being reconfigured)."""
        with self._lock:
            self.evictions = 0
            self.engines_dropped = 0
        self._stop.set()
        reaper = self._reaper
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join(5)
        self._reaper = None
        self._stop = threading.Event()

    # -- calls --------------------------------------------------------------
    def touched(self, key: str, name: object = None) -> None:
        """Cell ``key`` is being used now (called on every routed call)."""
        with self._lock:
            last_used = self._last_used
            if key in last_used:
                last_used.move_to_end(key)
            elif name is not None:
                self._names[key] = str(name)
            last_used[key] = time.monotonic()
            if key in self._holding:
                self._holding.move_to_end(key)

    def install(self, key: str, engine: sqlalchemy.engine.Engine) -> None:
        """Count, cap and track the connections ``engine`` opens for cell
        ``key`` (an oslo.db ``on_engine_create`` hook, bound with
        :func:`functools.partial`)."""
        pool = engine.pool
        # oslo.db may have opened a connection to test the engine before
        # this hook ran: uncounted, so it goes.
        pool.dispose()
        state = _PoolState(key, pool)
        with self._lock:
            self._pools.setdefault(key, weakref.WeakSet()).add(state)
        creator = pool._creator

        def budgeted_creator(connection_record=None):
            self._acquire(key)
            try:
                connection = creator(connection_record)
            except BaseException:
                self._release(key)
                raise
            finally:
                self._opened(key)
            if connection_record is not None:
                info = connection_record.info
                info[_PERMIT] = key
                if _FINALIZER not in info:
                    # Given back even if the record is dropped without a
                    # close event (a pool garbage-collected with it inside).
                    info[_FINALIZER] = weakref.finalize(
                        connection_record, self._release_record_info, info)
            return connection

        # Setting _creator re-derives how SQLAlchemy calls it (with the
        # connection record); pool.recreate() keeps the wrapped one.
        pool._creator = budgeted_creator
        listen = sqlalchemy.event.listen
        listen(pool, 'checkout', lambda _connection, record, _proxy:
               self._checked_out(key, record))
        listen(pool, 'checkin', lambda _connection, record:
               self._checked_in(state, record))
        for event in ('close', 'detach'):
            listen(pool, event, lambda _connection, record:
                   self._release_record_info(record.info))

    def retire(self, key: str) -> list:
        """Cell ``key``'s facade is about to be disposed: from now on its
        pools close every connection checked in to them. Returns the
        pools."""
        with self._lock:
            states = list(self._pools.pop(key, ()))
            for state in states:
                state.retired = True
            self._last_used.pop(key, None)
        return [pool for pool in (state.pool() for state in states)
                if pool is not None]

    # -- reading ------------------------------------------------------------
    def stats(self) -> dict:
        """Open connections per cell and in total, evictions (a cell gave
        its connections back) and engines dropped (an idle cell's facade
        freed) so far."""
        with self._lock:
            cells = {self._names.get(key, key): {
                'open': self._open[key], 'in_use': self._in_use[key]}
                for key in set(self._open) | set(self._in_use)
                if self._open[key] or self._in_use[key]}
            return {'total_open': sum(self._open.values()),
                    'max_total_connections': self.limit,
                    'idle_timeout': self.idle_timeout,
                    'evictions': self.evictions,
                    'engines_dropped': self.engines_dropped,
                    'cells': cells}

    # -- internals ------------------------------------------------------
    def _count_in_use(self, key: str, delta: int) -> None:
        with self._lock:
            self._in_use[key] += delta
            if self._in_use[key] <= 0:
                del self._in_use[key]

    def _checked_out(self, key: str, record) -> None:
        record.info[_IN_USE] = True
        self._count_in_use(key, 1)

    def _checked_in(self, state: _PoolState, record) -> None:
        # An idle entry whose reconnection failed is checked in without
        # having been checked out: nothing to take off.
        if record is None or record.info.pop(_IN_USE, False):
            self._count_in_use(state.key, -1)
        if state.retired:
            if record is not None:
                # Closes the connection: its close event gives the permit
                # back.
                record.invalidate()
        else:
            # An idle connection is now in this pool: its cell must be in
            # the LRU order, even if it was evicted while this call was in
            # flight on a facade built just before, or it would never be
            # given back.
            self.touched(state.key)

    def _opened(self, key: str) -> None:
        with self._lock:
            self._opening[key] -= 1
            if self._opening[key] <= 0:
                del self._opening[key]

    def _release_record_info(self, info: dict) -> None:
        # A record closed in place keeps living: its next permit gets a
        # finalizer of its own, so this one goes.
        finalizer = info.pop(_FINALIZER, None)
        if finalizer is not None:
            finalizer.detach()
        key = info.pop(_PERMIT, None)
        if key is not None:
            self._release(key)

    def _release(self, key: str) -> None:
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]
                self._holding.pop(key, None)
            self._closed.notify()

    def _acquire(self, key: str) -> None:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            with self._lock:
                if not self.limit or sum(self._open.values()) < self.limit:
                    self._open[key] += 1
                    self._opening[key] += 1
                    if key not in self._holding:
                        self._holding[key] = None
                    return
                victim = self._idle_victim(exclude=key)
                if victim is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise exception.ConnectionBudgetExhausted(
                            limit=self.limit, timeout=self.wait_timeout,
                            cell=self._names.get(key, 'a cell'))
                    self._closed.wait(remaining)
                    continue
                self._evicting.add(victim)
            # Outside the lock: closing connections takes the pools' locks,
            # and another thread may be building an engine meanwhile.
            try:
                closed = self._evict_now(victim)
            finally:
                with self._lock:
                    self._evicting.discard(victim)
            if not closed:
                # Its idle connections were taken meanwhile: let the
                # thread that took them move on rather than spin.
                with self._lock:
                    self._closed.wait(_NOTHING_CLOSED_WAIT)

    def _idle_victim(self, exclude: str) -> str | None:
        """The least recently used cell holding connections, none in use
        (it gives them all back); failing that, the least recently used
        one with idle connections beside those in use (only the idle ones
        are closed)."""
        busy = None
        for key in self._holding:
            if key == exclude or key in self._evicting:
                continue
            in_use, opening = self._in_use[key], self._opening[key]
            if not in_use and not opening:
                return key
            if busy is None and self._open[key] > in_use + opening:
                busy = key
        return busy

    def _evict_now(self, key: str) -> int:
        """Close cell ``key``'s idle connections, keeping its pools, engine
        and facade (see the module docstring); how many were closed.
        Called without the lock held."""
        with self._lock:
            states = list(self._pools.get(key, ()))
        closed = 0
        for pool in (state.pool() for state in states if not state.retired):
            count = idle_pool.close_idle(pool) if pool is not None else 0
            if count is None:
                # Not a pool that can be drained in place.
                closed += self._drop_now(key)
                break
            closed += count
        if closed:
            # Only a cell that gave something back counts: a victim whose
            # idle connections were taken meanwhile is retried, not one
            # more eviction.
            with self._lock:
                self.evictions += 1
        return closed

    def _drop_now(self, key: str) -> int:
        """Retire cell ``key``'s pools, close their idle connections and
        forget its facade; how many connections it held. Called without
        the lock held."""
        pools = self.retire(key)
        with self._lock:
            self.engines_dropped += 1
            held = self._open[key]
        for pool in pools:
            pool.dispose()
        self._forget(key)
        return held

    # -- idle reaper ----------------------------------------------------
    def _start_reaper(self) -> None:
        if not self.idle_timeout or self._reaper is not None:
            return
        self._reaper = threading.Thread(
            target=self._reap, args=(self._stop,), daemon=True,
            name='nova-cells-idle-cells')
        self._reaper.start()

    def _reap(self, stop: threading.Event) -> None:
        while True:
            timeout = self.idle_timeout
            if not timeout:
                return
            interval = min(max(timeout / 2, _REAPER_MIN_INTERVAL),
                           _REAPER_MAX_INTERVAL)
            if stop.wait(interval):
                return
            self.evict_idle(time.monotonic() - timeout)

    def evict_idle(self, unused_since: float) -> int:
        """Drop every cell unused since ``unused_since`` (monotonic) with
        nothing in use, its connections and its engine; returns how
        many."""
        with self._lock:
            idle = [key for key, used in self._last_used.items()
                    if used <= unused_since and not self._in_use[key]]
        for key in idle:
            if self._drop_now(key):
                with self._lock:
                    self.evictions += 1
        return len(idle)
