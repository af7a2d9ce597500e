"""A cell's message queue: reached within a bounded time, or refused.

oslo.messaging's RabbitMQ driver retries a connection for ever (even with
``retry=0``, which only bounds sending), so the first message to a cell
whose broker refuses connections, or accepts them and never answers, would
hold its caller indefinitely. Before a cell's transport is first used, and
again whenever a cell marked down is probed, :func:`ensure_reachable`
therefore opens one AMQP connection of its own, bounded by ``[cells]
message_queue_connect_timeout``:

* it fails: the failure counts towards the queue's fail-fast state
  (:mod:`nova_cells.cell_health`, kept apart from the database's) and the
  caller gets :class:`~nova_cells.exception.CellUnavailable` naming the
  cell, password masked;
* it succeeds: the transport is used, and later calls skip the check (a
  set look-up) until the queue fails again.

Only ``rabbit://`` (and ``amqp://``) URLs are checked; other drivers
(``fake://`` in the tests and the demo) are trusted. A broker that dies
*after* the first check is oslo.messaging's to reconnect to, bounded for
calls by the client's own ``timeout``.
"""

from nova_cells import cell_health
from nova_cells import connections
from nova_cells import exception
from nova_cells import urls

__all__ = [
    'ensure_reachable',
    'is_checked',
    'probe',
    'probe_error',
]

_CHECKED_SCHEMES = ('rabbit', 'amqp')


def probe(url: str, timeout: float) -> None:
    """Open and close one AMQP connection to ``url`` within ``timeout``.

    Does nothing for a driver other than RabbitMQ.

    :raises Exception: whatever kombu raised; its text may quote the URL,
        so mask it (:func:`probe_error`) before showing it.
    """
    scheme, _sep, rest = url.partition('://')
    if scheme.lower() not in _CHECKED_SCHEMES:
        return
    import kombu  # imported late: database-only users never need it

    connection = kombu.Connection('amqp://' + rest,
                                  connect_timeout=timeout or None)
    try:
        # One attempt: connect() would retry once, two seconds later.
        connection.ensure_connection(max_retries=0,
                                     reraise_as_library_errors=False)
    finally:
        try:
            connection.release()
        except Exception:  # noqa: S110 - a failed connection may not close
            pass


def probe_error(error: BaseException) -> str:
    """One masked line saying why a probe failed."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ''
    return urls.mask_text('%s: %s' % (type(error).__name__, first)
                     if first else type(error).__name__)


def is_checked(url: str) -> bool:
    return url.partition('://')[0].lower() in _CHECKED_SCHEMES


def ensure_reachable(key: str, cell: str) -> None:
    """Raise CellUnavailable unless the cell's queue (transport key
    ``key``) may be used now."""
    breaker = cell_health.BREAKERS.get(key, cell_health.MESSAGE_QUEUE, cell)
    if breaker.verified and breaker.down_until is None:
        return
    breaker.check()
    url = connections.get_registry().url_for_key(key)
    if is_checked(url):
        try:
            probe(url, connections.get_registry().conf.cells
                  .message_queue_connect_timeout)
        except Exception as error:
            reason = 'cannot reach its message queue: %s' % probe_error(
                error)
            breaker.failed(reason)
            raise exception.CellUnavailable(cell=cell,
                                            reason=reason) from None
        breaker.succeeded()
    breaker.verified = True
