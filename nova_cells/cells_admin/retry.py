"""The one retry policy of the operator commands (oslo.db's
``wrap_db_retry``).

Several runs of a command may work on the same rows at once (two
``discover_hosts``, ``map_instances`` beside ``delete_cell``). A unit of
work that loses such a race has rolled back whole, so doing it again is
safe and is what the operator wants: deadlocks are always retried, and each
caller names the other conflicts it can redo. The waits are short because
the run that won has committed already.
"""

from collections.abc import Callable

from oslo_db import api as oslo_db_api

__all__ = [
    'ATTEMPTS',
    'on_conflict',
]

#: Times a unit of work runs at most before its last error is raised.
ATTEMPTS = 5


def on_conflict(*conflicts: type[BaseException],
                attempts: int = ATTEMPTS) -> Callable[[Callable], Callable]:
    """Decorator: run the function again (up to ``attempts`` times in all)
    when it raises a deadlock or one of ``conflicts``; then the last error
    is raised."""
    return oslo_db_api.wrap_db_retry(
        max_retries=attempts - 1, retry_on_deadlock=True,
        retry_interval=0.1, max_retry_interval=1,
        exception_checker=lambda error: isinstance(error, conflicts))
