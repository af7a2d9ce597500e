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
(``fake://`` in the tests and the demo) are trusted.

After that first check every message tells the queue's state how it went
(:class:`ReportingClient`, the client :class:`nova_cells.rpc.ClientRouter`
hands out for a cell): a send that could not reach the broker (oslo.messaging
gave up on it: ``MessageDeliveryFailure``, or a connection error) counts as
a failure like a failed check, raises ``CellUnavailable`` and has the queue
checked again, bounded, before the next message; a message that went
through (an answer, or an error the remote side raised) ends a run of
failures. A call that got no answer in time (``MessagingTimeout``) reached
the broker but not necessarily a server: it counts for neither. How long
one send may keep retrying a broker that died is the client's ``retry``
(oslo.messaging retries for ever when it is None).
"""

import oslo_messaging

from nova_cells import cell_health
from nova_cells import connections
from nova_cells import exception
from nova_cells import urls

__all__ = [
    'ReportingClient',
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


def _queue_faults() -> tuple:
    """Exceptions that say a send did not reach the broker: oslo.messaging
    gave up retrying it, or (opening a new connection for it) kombu did.
    Not OSError: a remote server's OSError comes back as a plain one."""
    faults = [oslo_messaging.MessageDeliveryFailure]
    try:
        import amqp.exceptions
        import kombu.exceptions
    except ImportError:  # no RabbitMQ driver installed
        pass
    else:
        faults += [kombu.exceptions.OperationalError,
                   amqp.exceptions.ConnectionError]
    return tuple(faults)


def _came_back(error: BaseException) -> bool:
    """Was ``error`` raised by the server and sent back to us?

    oslo.messaging rebuilds a remote exception as ``RemoteError`` or as
    its own class renamed with a ``_Remote`` suffix, so a server's own
    ``MessageDeliveryFailure`` (from a message it failed to send on) is
    not taken for ours.
    """
    return (isinstance(error, oslo_messaging.RemoteError) or
            type(error).__module__.endswith('_Remote'))


class ReportingClient:
    """An oslo.messaging RPC client of one cell's queue whose every
    ``call`` and ``cast`` reports to the queue's fail-fast state.

    Everything else (``target``, ``timeout``, ``can_send_version``...) is
    the wrapped client's; ``prepare()`` returns a reporting client too.
    """

    _faults: tuple | None = None

    def __init__(self, client, key: str, cell: str):
        self._client = client
        self._key = key
        self._cell = cell
        # Read by the router on every message: a plain attribute.
        self.transport = client.transport

    def __getattr__(self, name):
        # Only reached for names not set on the instance. An instance made
        # without __init__ (copy, pickle) has no _client yet: reading
        # self._client here would come back to this method for ever.
        try:
            client = self.__dict__['_client']
        except KeyError:
            raise AttributeError(name) from None
        return getattr(client, name)

    def prepare(self, *args, **kwargs) -> 'ReportingClient':
        return ReportingClient(self._client.prepare(*args, **kwargs),
                               self._key, self._cell)

    def call(self, ctxt, method, **kwargs):
        return self._send(self._client.call, ctxt, method, kwargs)

    def cast(self, ctxt, method, **kwargs):
        return self._send(self._client.cast, ctxt, method, kwargs)

    def _send(self, send, ctxt, method, kwargs):
        try:
            result = send(ctxt, method, **kwargs)
        except Exception as error:
            if _came_back(error):
                self._reached()  # it went there and back
                raise
            faults = ReportingClient._faults
            if faults is None:
                faults = ReportingClient._faults = _queue_faults()
            if not isinstance(error, faults):
                raise  # not the queue's doing (or not known to be)
            reason = 'cannot reach its message queue: %s' % probe_error(
                error)
            breaker = cell_health.BREAKERS.get(
                self._key, cell_health.MESSAGE_QUEUE, self._cell)
            # Checked again (bounded) before the next message, rather
            # than left to oslo.messaging's reconnection.
            breaker.verified = False
            breaker.failed(reason)
            raise exception.CellUnavailable(cell=self._cell,
                                            reason=reason) from None
        self._reached()
        return result

    def _reached(self) -> None:
        breaker = cell_health.BREAKERS.find(self._key)
        if breaker is not None and (breaker.failures or
                                    breaker.down_until is not None):
            breaker.succeeded()
