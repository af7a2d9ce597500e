"""Closing the idle connections of a SQLAlchemy ``QueuePool`` in place.

The connection budget (:mod:`nova_cells.db.connection_budget`) gives a
cell's idle connections back without dropping its pool, engine or facade:
rebuilding those costs far more than reopening a connection. SQLAlchemy
has no public call for this (``dispose()`` also resets the pool's count of
connections checked out), so it is done here, kept apart because it leans
on the pool's internals.
"""

from sqlalchemy import pool as sa_pool

__all__ = [
    'close_idle',
]


def close_idle(pool) -> int | None:
    """Close the connections sitting idle in ``pool``, leaving the pool
    usable and any connection checked out untouched; how many, or None if
    ``pool`` is not a ``QueuePool`` (nothing is closed then).

    Each entry taken out is taken off the pool's overflow count exactly as
    the pool does when it closes a surplus connection given back to a full
    queue (``QueuePool.dispose()`` would reset that count as if nothing
    were checked out). But with nothing checked out, one entry stays in
    the queue, its connection closed (reconnected within the budget when
    next checked out, like an invalidated one): a thread of a pool at
    capacity may already have decided to wait for an entry
    (``QueuePool._do_get``), and with none ever given back it would time
    out although nothing is in use. The queue's lock keeps entries from
    being checked out meanwhile.
    """
    if not isinstance(pool, sa_pool.QueuePool):
        return None
    queue = pool._pool
    closed = 0
    with queue.mutex:
        keep = 0 if pool.checkedout() else 1
        while queue.qsize() > keep:
            record = queue.get(False)
            try:
                closed += record.dbapi_connection is not None
                record.close()  # its close event gives the permit back
            finally:
                pool._dec_overflow()
        for record in list(queue.queue):
            closed += record.dbapi_connection is not None
            record.close()
    return closed
