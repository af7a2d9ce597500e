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
    whichever comes first. A cell that hangs keeps its worker busy after
    the caller has moved on; the pool abandons that worker and starts a
    replacement (:mod:`nova_cells.worker_pool`).

Stuck cells
    A cell whose earlier call ran past that call's deadline and is still
    running is answered at once as did-not-respond, until that call
    returns; see :mod:`nova_cells.stuck_cells` and :func:`is_cell_stuck`.

Down cells
    A cell whose database this process marked down
    (:mod:`nova_cells.cell_health`) is answered at once with
    :class:`~nova_cells.exception.CellUnavailable`, without a worker.

Bounded concurrency
    At most ``[cells] scatter_gather_workers`` cell calls run at once, on
    one pool. A call still queued at its caller's deadline is dropped
    without running, and reported as did-not-respond.

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
    comes from :mod:`nova_cells.cell_cache`, so a new, disabled or deleted
    cell is seen with no restart (how soon: see there).

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
from nova_cells import stuck_cells
from nova_cells import urls
from nova_cells import worker_pool
from nova_cells.stuck_cells import is_cell_stuck

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


#: The one pool every scatter-gather call runs its cell calls on.
_POOL = worker_pool.WorkerPool()
_IN_FLIGHT = stuck_cells.IN_FLIGHT

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
        self.stuck_key = stuck_cells.stuck_key(cell_mapping)
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
        if _IN_FLIGHT.is_stuck(stuck_cells.stuck_key(cell_mapping), now):
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
