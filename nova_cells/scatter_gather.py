"""Run one function in many cells at once, with honest failure results.

:func:`scatter_gather_cells` calls ``fn(cell_context, *args, **kwargs)`` in
every given cell at the same time, each call with its own copy of the
caller's context targeted at that cell, and returns ``{cell_uuid:
outcome}`` with exactly one entry per cell. An outcome is one of:

* whatever ``fn`` returned;
* the exception ``fn`` raised (the instance itself, so callers can tell a
  missing row from a dead database);
* :data:`did_not_respond_sentinel`, when the cell gave no answer in time.

:func:`is_cell_failure` tells the last two from a result. No cell is ever
silently missing from the answer.

Timeouts
    A call returns when every cell has answered or ``timeout`` seconds
    have passed (``[cells] scatter_gather_timeout`` when ``None``),
    whichever comes first. A thread cannot be killed, so a cell that hangs
    keeps its worker busy after the caller has moved on; that worker is
    *abandoned*: the pool stops counting it against its size and starts a
    replacement, so hung cells never starve healthy ones of workers.

Stuck cells
    A cell is *stuck* when a call made to it earlier has run past that
    call's own deadline and is still running. Later calls do not queue
    behind it: a stuck cell is answered at once as did-not-respond, until
    its earlier call returns. A cell that is merely busy (another caller's
    call is in flight but still within its deadline) is *not* stuck and is
    called as usual, so concurrent listings never mark each other's cells
    down. At most the calls started before the first deadline passed can
    pile up on a hung cell; none after (a call still queued when its cell
    becomes stuck is answered without running). :func:`is_cell_stuck`
    tells whether a cell is stuck now. Stuck is judged per cell *and*
    database URL: a cell repointed at another database is called at once.

Down cells
    A cell whose database this process marked down
    (:mod:`nova_cells.cell_health`) is answered at once with
    :class:`~nova_cells.exception.CellUnavailable`, without a worker.

Bounded concurrency
    All calls share one pool of daemon threads; at most ``[cells]
    scatter_gather_workers`` cell calls run at once (abandoned workers
    excepted). A cell call still queued when its caller's deadline passes
    is dropped without running, and reported as did-not-respond.

Cells on local SQLite files
    A cell whose database is a SQLite file does CPU work under the GIL,
    not waits on a server, so threads cannot overlap its calls, and a
    thread hand-off per cell (plus GIL contention between workers) costs
    more than the call. Those cells run in a *lane*: one pool task that
    calls them one after another. They keep the same contract, because the
    lane is a worker, not the caller: the caller still waits at most the
    timeout, a lane stuck on a cell is abandoned like any worker, and
    should a lane call run longer than :data:`_LANE_PATIENCE`, the caller
    opens another lane for the cells queued behind it, so a slow file
    holds up no other cell. Cells on servers get a pool task each, so
    their round trips overlap.

Which cells
    :func:`scatter_gather_all_cells` fans out to every cell mapping,
    *disabled cells included* (as in Nova: ``disabled`` only keeps the
    scheduler from placing new instances there; listings and look-ups must
    still see what already lives in them), cell0 included.
    :func:`scatter_gather_skip_cell0` leaves cell0 out. The list of cells
    is cached for ``[cells] cell_cache_ttl`` seconds (see
    :mod:`nova_cells.cell_cache`), so a new, disabled or deleted cell is
    seen within that time, with no restart; with ``[cells] mapping_cache``
    on, the mapping cache keeps it instead (:mod:`nova_cells.mapping_cache`).

Options are read from the configuration the connection registry was
given (:func:`nova_cells.config.parse_args` or ``registry.configure``).
"""

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from nova_cells import cell_cache
from nova_cells import cell_health
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import urls

__all__ = [
    'did_not_respond_sentinel',
    'is_cell_failure',
    'is_cell_stuck',
    'scatter_gather_all_cells',
    'scatter_gather_cells',
    'scatter_gather_single_cell',
    'scatter_gather_skip_cell0',
]

LOG = logging.getLogger(__name__)

# Idle workers above what the load needs exit after this many seconds.
_IDLE_WORKER_SECONDS = 30.0
# A lane call running longer than this makes the caller open another lane
# for the calls queued behind it: a local file answers in milliseconds.
_LANE_PATIENCE = 0.05


class _DidNotRespond:
    """The type of :data:`did_not_respond_sentinel`; never instantiate."""

    __slots__ = ()

    def __repr__(self) -> str:
        return '<cell did not respond>'

    def __reduce__(self) -> str:
        # Copies and unpickled copies are the sentinel itself, so ``is``
        # keeps working on outcomes that were copied.
        return 'did_not_respond_sentinel'


#: The outcome of a cell that gave no answer within the timeout (or was
#: still stuck in an earlier call). Compare with ``is``.
did_not_respond_sentinel = _DidNotRespond()


def is_cell_failure(outcome: Any) -> bool:
    """True if ``outcome`` is a raised exception or did-not-respond."""
    return (outcome is did_not_respond_sentinel or
            isinstance(outcome, BaseException))


# -- the worker pool --------------------------------------------------------

class _WorkerPool:
    """Daemon threads shared by every scatter-gather call.

    At most ``size`` tasks run at once, ``size`` being given per submission
    (so a changed ``[cells] scatter_gather_workers`` applies at once). A
    task whose caller gave up while it runs is *abandoned*
    (:meth:`abandon`): it no longer counts against the size, and a worker
    is added to replace it, so hung cells never starve healthy ones.
    Threads are daemons, so a cell that never answers cannot keep the
    process from exiting; idle ones exit after a while.
    :class:`concurrent.futures.ThreadPoolExecutor` can do none of this.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._tasks: collections.deque = collections.deque()
        self._running: set = set()
        self._abandoned: set = set()
        self._size = 1
        self._busy = 0  # running tasks not abandoned
        self._threads = 0
        self._waiting = 0

    @property
    def thread_count(self) -> int:
        return self._threads

    def submit(self, tasks: Iterable[Callable[[], None]], size: int) -> None:
        """Queue ``tasks`` (under one lock, however many there are)."""
        with self._condition:
            self._size = size
            for task in tasks:
                self._tasks.append(task)
                self._dispatch()

    def abandon(self, task: Callable[[], None]) -> None:
        """Stop counting ``task`` (still running) against the size."""
        with self._condition:
            if task in self._running and task not in self._abandoned:
                self._abandoned.add(task)
                self._busy -= 1
                self._dispatch()

    def _dispatch(self) -> None:
        """Get a queued task going: wake a worker, or start one if every
        worker is spoken for (caller holds the lock)."""
        if not self._tasks or self._busy >= self._size:
            return
        if self._waiting:
            self._condition.notify()
        if (len(self._tasks) > self._waiting and
                self._threads < self._size + len(self._abandoned)):
            self._threads += 1
            threading.Thread(target=self._work, daemon=True,
                             name='scatter-gather-worker').start()

    def _can_take(self) -> bool:
        return bool(self._tasks) and self._busy < self._size

    def _work(self) -> None:
        with self._condition:
            while True:
                while not self._can_take():
                    self._waiting += 1
                    woken = self._condition.wait(_IDLE_WORKER_SECONDS)
                    self._waiting -= 1
                    if not woken and not self._can_take():
                        self._threads -= 1
                        return
                task = self._tasks.popleft()
                self._busy += 1
                self._running.add(task)
                self._condition.release()
                try:
                    task()
                finally:
                    self._condition.acquire()
                self._running.discard(task)
                if task in self._abandoned:
                    self._abandoned.discard(task)
                else:
                    self._busy -= 1
                # No dispatch: this worker goes round and takes the next.
                del task


_POOL = _WorkerPool()


# -- calls in flight, per cell ---------------------------------------------

def _stuck_key(cell_mapping: Any) -> tuple:
    """What a cell is judged stuck by: its uuid *and* its database URL,
    so a cell repointed at another database (``update_cell``) is called
    at once rather than answered as still stuck in the old one."""
    return (cell_mapping.uuid,
            getattr(cell_mapping, 'database_connection', None))


class _InFlight:
    """Started, unfinished cell calls by stuck key, to spot stuck cells."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, set] = collections.defaultdict(set)

    def add(self, call: '_CellCall') -> None:
        with self._lock:
            self._calls[call.stuck_key].add(call)

    def discard(self, call: '_CellCall') -> None:
        with self._lock:
            calls = self._calls.get(call.stuck_key)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._calls[call.stuck_key]

    def is_stuck(self, stuck_key: tuple, now: float) -> bool:
        """An earlier call to the cell's database ran past its deadline
        and is still running."""
        with self._lock:
            return any(call.deadline <= now
                       for call in self._calls.get(stuck_key, ()))

    def is_uuid_stuck(self, cell_uuid: str, now: float) -> bool:
        with self._lock:
            return any(call.deadline <= now
                       for key, calls in self._calls.items()
                       if key[0] == cell_uuid for call in calls)


_IN_FLIGHT = _InFlight()

# States of a cell call; only the caller moves one out of _QUEUED into
# _DROPPED, only its worker into _RUNNING, both under the gather's lock.
_QUEUED = 'queued'
_RUNNING = 'running'
_FINISHED = 'finished'
_DROPPED = 'dropped'


def _targeted(ctxt, cell_mapping: Any):
    """A copy of ``ctxt`` targeted at the cell; a CellMapping's own
    ``target()`` is preferred, as it fills URL templates first."""
    target = getattr(cell_mapping, 'target', None)
    if callable(target):
        return target(ctxt)
    return nova_context.target_cell(ctxt, cell_mapping)


@functools.lru_cache(maxsize=1024)
def _names_a_sqlite_file(url: str) -> bool:
    # Cached: parsing a URL costs more than a no-op cell call.
    return urls.sqlite_file(url) is not None


def _in_a_lane(cell_mapping: Any) -> bool:
    """Whether the cell's database is a SQLite file on this machine.

    Its calls are CPU work under the GIL, not waits on a server: threads
    cannot overlap them, so they run one after another in a lane instead
    of paying a thread hand-off (and GIL contention) each.
    """
    url = getattr(cell_mapping, 'database_connection', None)
    return isinstance(url, str) and _names_a_sqlite_file(url)



class _CellCall:
    """``fn`` in one cell, on behalf of one :class:`_Gather`."""

    def __init__(self, gather: '_Gather', ctxt, cell_mapping,
                 fn: Callable, args: tuple, kwargs: dict) -> None:
        self.gather = gather
        self.cell_uuid = cell_mapping.uuid
        self.stuck_key = _stuck_key(cell_mapping)
        self.deadline = gather.deadline
        self.state = _QUEUED
        self.abandoned = False
        #: The pool task running this call: the call itself, or its lane.
        self.task: Callable[[], None] = self
        self._ctxt = ctxt
        self._cell_mapping = cell_mapping
        self._fn = fn
        self._args = args
        self._kwargs = kwargs

    def __call__(self) -> None:
        if not self.gather.start(self):
            return
        try:
            with _targeted(self._ctxt, self._cell_mapping) as cctxt:
                outcome = self._fn(cctxt, *self._args, **self._kwargs)
        except BaseException as error:  # the cell's failure is an outcome
            outcome = error
        self.gather.finish(self, outcome)


class _Lane:
    """One pool task running a gather's lane calls one after another.

    Should a call keep its lane longer than :data:`_LANE_PATIENCE`, the
    caller opens another lane for the calls queued behind it (see
    :meth:`_Gather.wait`), so a hung cell holds up no other.
    """

    def __init__(self, gather: '_Gather') -> None:
        self.gather = gather
        #: When the lane's current call was taken (None: between calls).
        self.busy_since: float | None = None

    def __call__(self) -> None:
        while True:
            call = self.gather.next_lane_call(self)
            if call is None:
                return
            call.task = self
            call()


class _Gather:
    """One scatter-gather call: the outcomes so far and who is still out."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.outcomes: dict[str, Any] = {}
        self._condition = threading.Condition()
        self._calls: list[_CellCall] = []
        self._pooled: list[_CellCall] = []
        self._lane_queue: collections.deque = collections.deque()
        self._lanes: list[_Lane] = []
        self._workers = 1
        self._outstanding = 0

    def add(self, call: _CellCall, in_lane: bool) -> None:
        self._calls.append(call)
        (self._lane_queue if in_lane else self._pooled).append(call)
        self._outstanding += 1

    def submit(self, workers: int) -> None:
        self._workers = workers
        tasks: list[Callable[[], None]] = list(self._pooled)
        if self._lane_queue:
            tasks.append(self._new_lane())
        _POOL.submit(tasks, workers)

    def _new_lane(self) -> _Lane:
        lane = _Lane(self)
        self._lanes.append(lane)
        return lane

    def next_lane_call(self, lane: _Lane) -> _CellCall | None:
        """The lane's next call still queued, or None: the lane is done."""
        with self._condition:
            lane.busy_since = None
            while self._lane_queue:
                call = self._lane_queue.popleft()
                if call.state == _QUEUED:
                    lane.busy_since = time.monotonic()
                    return call
            return None

    def _lanes_overdue(self, now: float) -> bool:
        """Calls wait for a lane while every lane has spent longer than
        :data:`_LANE_PATIENCE` on its current call (caller holds the
        lock)."""
        if not self._lane_queue:
            return False
        return all(lane.busy_since is not None and
                   now - lane.busy_since >= _LANE_PATIENCE
                   for lane in self._lanes)

    def start(self, call: _CellCall) -> bool:
        """Called by the worker: may the call run? Not if the caller gave
        up, nor if the cell got stuck while the call waited in the queue
        (it would only pile one more thread on the hung cell)."""
        with self._condition:
            if call.state != _QUEUED:
                return False
            if _IN_FLIGHT.is_stuck(call.stuck_key, time.monotonic()):
                call.state = _FINISHED
                self._record(call, did_not_respond_sentinel)
                return False
            call.state = _RUNNING
            _IN_FLIGHT.add(call)
        return True

    def _record(self, call: _CellCall, outcome: Any) -> None:
        self.outcomes[call.cell_uuid] = outcome
        self._outstanding -= 1
        if not self._outstanding:
            self._condition.notify_all()

    def finish(self, call: _CellCall, outcome: Any) -> None:
        _IN_FLIGHT.discard(call)
        with self._condition:
            call.state = _FINISHED
            if not call.abandoned:
                self._record(call, outcome)
                return
        LOG.info('Cell %s answered %.1f s after its caller gave up; it '
                 'is no longer treated as stuck.', call.cell_uuid,
                 time.monotonic() - call.deadline)

    def wait(self) -> None:
        """Block until every cell answered or the deadline passed; then
        give up on the rest (dropping queued calls, abandoning running
        ones) and record them as did-not-respond.

        While lane calls are queued, wake every :data:`_LANE_PATIENCE`
        to open another lane if every lane is held up by a slow cell.
        """
        abandoned = []
        with self._condition:
            while self._outstanding:
                now = time.monotonic()
                remaining = self.deadline - now
                if remaining <= 0:
                    break
                if self._lane_queue:
                    if self._lanes_overdue(now):
                        _POOL.submit([self._new_lane()], self._workers)
                    remaining = min(remaining, _LANE_PATIENCE)
                self._condition.wait(remaining)
            for call in self._calls:
                if call.state == _QUEUED:
                    call.state = _DROPPED
                elif call.state == _RUNNING:
                    call.abandoned = True
                    abandoned.append(call.task)
                else:
                    continue
                self.outcomes[call.cell_uuid] = did_not_respond_sentinel
                LOG.warning('Timed out waiting for cell %s (%s).',
                            call.cell_uuid, call.state)
        for task in abandoned:
            _POOL.abandon(task)


# -- the public calls -------------------------------------------------------

def is_cell_stuck(cell_uuid: str) -> bool:
    """True while an earlier call to the cell has run past its timeout
    and not returned; calls meanwhile answer it as did-not-respond."""
    return _IN_FLIGHT.is_uuid_stuck(cell_uuid, time.monotonic())


def scatter_gather_cells(ctxt, cell_mappings: Iterable[Any],
                         timeout: float | None, fn: Callable,
                         *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run ``fn(cell_context, *args, **kwargs)`` in every cell at once.

    :param timeout: seconds to wait for the cells; ``None`` means
        ``[cells] scatter_gather_timeout``.
    :returns: ``{cell_uuid: outcome}``, one entry per distinct cell: the
        result, the raised exception or :data:`did_not_respond_sentinel`.
    """
    options = connections.get_registry().conf.cells
    if timeout is None:
        timeout = options.scatter_gather_timeout
    workers = options.scatter_gather_workers
    now = time.monotonic()
    gather = _Gather(deadline=now + timeout)
    seen = set()
    for cell_mapping in cell_mappings:
        cell_uuid = cell_mapping.uuid
        if cell_uuid in seen:
            continue
        seen.add(cell_uuid)
        if _IN_FLIGHT.is_stuck(_stuck_key(cell_mapping), now):
            LOG.warning('Cell %s is still stuck in an earlier call; '
                        'not waiting for it.', cell_uuid)
            gather.outcomes[cell_uuid] = did_not_respond_sentinel
            continue
        refusal = cell_health.refusal_for(cell_mapping)
        if refusal is not None:
            # Marked down: answered now, no worker, no network.
            gather.outcomes[cell_uuid] = refusal
            continue
        gather.add(_CellCall(gather, ctxt, cell_mapping, fn, args, kwargs),
                   in_lane=_in_a_lane(cell_mapping))
    gather.submit(workers)
    gather.wait()
    for cell_uuid, outcome in gather.outcomes.items():
        if isinstance(outcome, BaseException):
            LOG.warning('Cell %s raised %s: %s', cell_uuid,
                        type(outcome).__name__,
                        urls.mask_text(str(outcome)))
    return gather.outcomes


def scatter_gather_single_cell(ctxt, cell_mapping: Any, fn: Callable,
                               *args: Any, **kwargs: Any
                               ) -> dict[str, Any]:
    """:func:`scatter_gather_cells` for one cell, with the default timeout:
    a hung cell still costs at most the timeout."""
    return scatter_gather_cells(ctxt, [cell_mapping], None, fn,
                                *args, **kwargs)


def scatter_gather_all_cells(ctxt, fn: Callable, *args: Any,
                             **kwargs: Any) -> dict[str, Any]:
    """Every cell (disabled ones and cell0 included), default timeout."""
    return scatter_gather_cells(ctxt, cell_cache.CELL_CACHE.get(ctxt), None,
                                fn, *args, **kwargs)


def scatter_gather_skip_cell0(ctxt, fn: Callable, *args: Any,
                              **kwargs: Any) -> dict[str, Any]:
    """Every cell except cell0 (disabled ones included), default timeout."""
    cells = [cell for cell in cell_cache.CELL_CACHE.get(ctxt)
             if not cell.is_cell0()]
    return scatter_gather_cells(ctxt, cells, None, fn, *args, **kwargs)
