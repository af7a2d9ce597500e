"""Fail fast per cell: stop calling a cell that keeps failing, for a while.

After ``[cells] failure_threshold`` consecutive connection failures or
timeouts, a cell's database (or, separately, its message queue) is marked
*down* in this process. For ``[cells] down_cell_retry_interval`` seconds
every call targeted at it raises :class:`~nova_cells.exception.
CellUnavailable` at once, without touching the network. Then one call is
let through as a *probe*: its success brings the cell back, its failure
marks it down for another interval. Errors that are not the cell's fault
(a missing row, a constraint violation, bad input) never count; they
prove the cell answered, so they end a run of failures like a success.

State is kept per connection *key*, that is per database or transport
URL, never per cell uuid: a cell repointed at another database by
``update_cell`` is judged on its new database at once. Threads share one
state per key; every change happens under that key's lock, while the
check on the hot path is a single attribute read.

Who reports what:

* :mod:`nova_cells.db.cell_engine` reports each connection (after its
  retries) and each statement error of a cell engine;
* :mod:`nova_cells.rpc` reports the outcome of calls on a cell's queue;
* :class:`~nova_cells.connections.ConnectionRegistry` calls
  :meth:`Breaker.check` before handing out a cell's facade or transport.
"""

import logging
import threading
import time

from nova_cells import exception

__all__ = [
    'BREAKERS',
    'Breaker',
    'DATABASE',
    'MESSAGE_QUEUE',
    'any_down',
    'check',
    'refusal_for',
]

LOG = logging.getLogger(__name__)

DATABASE = 'database'
MESSAGE_QUEUE = 'message queue'


class Breaker:
    """The health of one cell database or queue, shared by all threads."""

    def __init__(self, kind: str, cell: str):
        self.kind = kind
        self.cell = cell
        self._lock = threading.Lock()
        self.failures = 0
        #: monotonic time until which calls are refused; None while up.
        self.down_until: float | None = None
        self._probe_deadline: float | None = None
        self._last_reason = ''
        #: Set by whoever checked the resource answers (the queue check);
        #: cleared when it is marked down, so it is checked again.
        self.verified = False

    @property
    def is_down(self) -> bool:
        return self.down_until is not None

    def check(self) -> None:
        """Raise CellUnavailable if calls must not reach the cell now.

        Once the interval is over exactly one caller (per interval) is let
        through as the probe; the others keep being refused until it ends.
        """
        if self.down_until is None:
            return
        now = time.monotonic()
        with self._lock:
            if self.down_until is None:
                return
            if now >= self.down_until and (
                    self._probe_deadline is None or
                    now >= self._probe_deadline):
                # The probe gets one interval to report; a probe that
                # never does (stuck, or ended in an error that does not
                # count) must not keep the cell refused for ever.
                self._probe_deadline = now + _retry_interval()
                LOG.info('Cell %s: probing its %s.', self.cell, self.kind)
                return
        raise self.error()

    def error(self) -> exception.CellUnavailable:
        """The refusal, saying why and for how long."""
        wait = max(self.down_until or 0, self._probe_deadline or 0) - (
            time.monotonic())
        return exception.CellUnavailable(
            cell=self.cell,
            reason='its %s failed %d times in a row (last: %s); not tried '
                   'again for %.1f s' % (self.kind, self.failures,
                                         self._last_reason, max(wait, 0)))

    def refusing(self) -> bool:
        """True if :meth:`check` would refuse a call now (no probe taken)."""
        down_until = self.down_until
        if down_until is None:
            return False
        now = time.monotonic()
        probe = self._probe_deadline
        return now < down_until or (probe is not None and now < probe)

    def failed(self, reason: str) -> None:
        """A connection failure or timeout of the cell."""
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            self._last_reason = reason
            if self.down_until is not None:
                # A failed probe (or a call that started before the cell
                # was marked down): another full interval.
                self.down_until = now + _retry_interval()
                self._probe_deadline = None
                return
            if self.failures < _options().failure_threshold:
                return
            self.down_until = now + _retry_interval()
            self._probe_deadline = None
            self.verified = False
        _DOWN.add(self)
        LOG.warning('Cell %s: %s marked down after %d consecutive '
                    'failures (last: %s); calls are refused for %.0f s.',
                    self.cell, self.kind, self.failures, reason,
                    _retry_interval())

    def succeeded(self) -> None:
        """The cell answered (a result, or an error that is not its fault)."""
        if not self.failures and self.down_until is None:
            return
        with self._lock:
            was_down = self.down_until is not None
            self.failures = 0
            self.down_until = None
            self._probe_deadline = None
        _DOWN.discard(self)
        if was_down:
            LOG.info('Cell %s: %s is back.', self.cell, self.kind)


def _options():
    """``[cells]`` of the configuration the connection registry uses."""
    from nova_cells import connections  # imported late: it imports us

    return connections.get_registry().conf.cells


def _retry_interval() -> float:
    return _options().down_cell_retry_interval


class _Breakers:
    """One :class:`Breaker` per connection key, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Breaker] = {}

    def get(self, key: str, kind: str, cell: str) -> Breaker:
        breaker = self._by_key.get(key)
        if breaker is None:
            with self._lock:
                breaker = self._by_key.setdefault(key, Breaker(kind, cell))
        return breaker

    def find(self, key: str) -> Breaker | None:
        return self._by_key.get(key)

    def forget(self, key: str) -> None:
        with self._lock:
            breaker = self._by_key.pop(key, None)
        if breaker is not None:
            _DOWN.discard(breaker)

    def reset(self) -> None:
        with self._lock:
            self._by_key.clear()
        _DOWN.clear()


#: Breakers currently down, so the healthy case costs one emptiness test.
_DOWN: set[Breaker] = set()
BREAKERS = _Breakers()


def any_down() -> bool:
    return bool(_DOWN)


def check(key: str) -> None:
    """Raise CellUnavailable if the database or queue behind ``key`` is
    down; the cost in the healthy case is one dictionary look-up."""
    breaker = BREAKERS.find(key)
    if breaker is not None and breaker.down_until is not None:
        breaker.check()


def refusal_for(cell_mapping) -> exception.CellUnavailable | None:
    """The error a call to this cell's database would get right now
    without touching the network, or None (up, or due a probe).

    For fan-out, which answers such a cell at once instead of handing it
    to a worker. Costs nothing while no cell is down.
    """
    if not _DOWN:
        return None
    from nova_cells import connections  # imported late: it imports us

    try:
        with_urls_filled = getattr(cell_mapping, 'with_urls_filled', None)
        cell = (with_urls_filled() if with_urls_filled is not None
                else cell_mapping)
        key = connections.get_registry().database_key(
            cell.database_connection, cell=cell_mapping.uuid)
    except Exception:
        return None  # targeting itself fails; let the call say why
    breaker = BREAKERS.find(key)
    if breaker is None or not breaker.refusing():
        return None
    return breaker.error()
