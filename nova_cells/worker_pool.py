"""A pool of daemon threads whose hung tasks can be given up on.

Scatter-gather (:mod:`nova_cells.scatter_gather`) runs every cell call on
one such pool. It is separate because what it does is not about cells: it
bounds how many tasks run at once, and lets a caller *abandon* a task that
outlived its deadline so that a hung task never holds a slot.
"""

import collections
import threading
from collections.abc import Callable
from collections.abc import Iterable

__all__ = [
    'WorkerPool',
]

# Idle workers above what the load needs exit after this many seconds.
_IDLE_WORKER_SECONDS = 30.0


class WorkerPool:
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
