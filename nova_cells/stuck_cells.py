"""Which cells are stuck: an earlier call to them outlived its deadline.

A cell is *stuck* when a call made to it earlier has run past that call's
own deadline and is still running. Scatter-gather
(:mod:`nova_cells.scatter_gather`) records each cell call here while it
runs; later calls do not queue behind a stuck cell: it is answered at once
as did-not-respond, until its earlier call returns. A cell that is merely
busy (another caller's call is in flight but still within its deadline) is
*not* stuck and is called as usual, so concurrent listings never mark each
other's cells down. At most the calls started before the first deadline
passed can pile up on a hung cell; none after (a call still queued when
its cell becomes stuck is answered without running). Stuck is judged per
cell *and* database URL: a cell repointed at another database is called at
once.

Separate from scatter-gather because this state outlives any one
scatter-gather call, and :func:`is_cell_stuck` reports it to anyone.
"""

import collections
import threading
import time
from typing import Any

__all__ = [
    'IN_FLIGHT',
    'CallsInFlight',
    'is_cell_stuck',
    'stuck_key',
]


def stuck_key(cell_mapping: Any) -> tuple:
    """What a cell is judged stuck by: its uuid *and* its database URL,
    so a cell repointed at another database (``update_cell``) is called
    at once rather than answered as still stuck in the old one."""
    return (cell_mapping.uuid,
            getattr(cell_mapping, 'database_connection', None))


class CallsInFlight:
    """Started, unfinished cell calls by stuck key, to spot stuck cells.

    A call is anything with a ``stuck_key`` (:func:`stuck_key` of its
    cell) and a ``deadline`` (:func:`time.monotonic` seconds).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple, set] = collections.defaultdict(set)

    def add(self, call: Any) -> None:
        with self._lock:
            self._calls[call.stuck_key].add(call)

    def discard(self, call: Any) -> None:
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


#: The process-wide record of cell calls in flight.
IN_FLIGHT = CallsInFlight()


def is_cell_stuck(cell_uuid: str) -> bool:
    """True while an earlier call to the cell has run past its timeout
    and not returned; calls meanwhile answer it as did-not-respond."""
    return IN_FLIGHT.is_uuid_stuck(cell_uuid, time.monotonic())
