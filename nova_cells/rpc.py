"""Per-cell RPC: transports, clients, servers and the ClientRouter.

Every cell has its own message queue, and every RPC message goes to the bus
of the cell its context is targeted at::

    router = ClientRouter(get_client(target))
    with target_cell(ctxt, cell) as cctxt:
        router.client(cctxt).cast(cctxt, 'build', ...)   # cell's bus

* Transports come from the connection registry
  (:mod:`nova_cells.connections`): one per distinct transport URL, created
  on first use, disposable when a cell's URL changes. A context carries
  only the registry key (``mq_connection``), never the URL.
* The default transport is ``[DEFAULT] transport_url`` of the
  configuration the connection registry was given, the one configuration
  every module reads. :func:`init` points the registry at its ``conf``
  (``parse_args`` already has) and marks RPC usable; the transport is made
  on first use (and even then oslo.messaging does not connect until a
  message moves), so tools that only touch databases never touch
  messaging.
* A cell's RabbitMQ queue is checked with one bounded connection before
  its transport is first used (:mod:`nova_cells.cell_queue`): a dead or
  hung broker gives ``CellUnavailable`` naming the cell, and counts
  towards marking the queue down, instead of oslo.messaging's endless
  reconnection.
* A context targeted at a cell with no message queue (cell0,
  ``none:///``) is refused with :class:`~nova_cells.exception.
  CellHasNoMessageQueue` before anything is sent. Nova quietly sends such
  messages to the default bus instead; here that would deliver a cell's
  work to a service that does not serve it.
* URLs reach log lines and errors only through
  :func:`~nova_cells.urls.mask_url`.

The serializer lives in :mod:`nova_cells.rpc_serializer`.
"""

import logging
import threading
import urllib.parse
from typing import Any

import oslo_messaging
from oslo_config import cfg

from nova_cells import cell_queue
from nova_cells import connections
from nova_cells import exception
from nova_cells import urls
from nova_cells.conf import messaging as messaging_conf
from nova_cells.rpc_serializer import ObjectSerializer
from nova_cells.rpc_serializer import RequestContextSerializer

__all__ = [
    'ClientRouter',
    'ObjectSerializer',
    'RequestContextSerializer',
    'cleanup',
    'get_client',
    'get_server',
    'get_transport',
    'init',
]

LOG = logging.getLogger(__name__)

#: How the default transport is named in errors (it belongs to no cell).
_DEFAULT_TRANSPORT_LABEL = '[DEFAULT] transport_url'


class _State:
    """Whether :func:`init` was called, and which transports were handed
    out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.initialized = False
        # Registry keys of every transport this module handed out, so that
        # cleanup() can close them without touching database facades.
        self.transport_keys: set[str] = set()


_STATE = _State()


def init(conf: cfg.ConfigOpts) -> None:
    """Use ``conf`` for messaging; cheap and idempotent.

    No transport is created and nothing connects here. ``conf`` becomes
    the connection registry's configuration (if it is not already, as
    after :func:`nova_cells.config.parse_args`), so the default transport
    URL and every transport's driver options come from one place. Calling
    it again with the same ``conf`` does nothing; with another ``conf`` it
    first cleans up what the previous one produced.
    """
    registry = connections.get_registry()
    if _STATE.initialized and registry.conf is conf:
        return
    if _STATE.initialized:
        cleanup()
    messaging_conf.register_opts(conf)
    if registry.conf is not conf:
        registry.configure(conf)
    with _STATE.lock:
        _STATE.initialized = True


def cleanup() -> None:
    """Close every transport this module handed out; idempotent.

    Clients built on them are stale afterwards; a :class:`ClientRouter`
    notices and builds new ones on next use.
    """
    with _STATE.lock:
        keys = list(_STATE.transport_keys)
        _STATE.transport_keys.clear()
        _STATE.initialized = False
    registry = connections.get_registry()
    for key in keys:
        registry.dispose_transport(key)


def _scrub(text: str, url: str) -> str:
    """``text`` with ``url`` masked and each of its passwords removed.

    For messages of other libraries, which may quote the URL they could
    not use, or a password from it, as given or percent-decoded.
    """
    text = text.replace(url, urls.mask_url(url))
    for password in urls.passwords(url):
        for spelling in {password, urllib.parse.unquote(password)}:
            if spelling:
                text = text.replace(spelling, urls.MASK)
    return text


def _transport_for_key(key: str, label: str | None) -> Any:
    """The registry's transport for ``key``; creation errors are masked."""
    registry = connections.get_registry()
    try:
        transport = registry.transport(key)
    except exception.NovaCellsException:
        raise
    except Exception as error:
        url = registry.url_for_key(key)
        reason = _scrub('%s: %s' % (type(error).__name__, error), url)
        # "from None": the original message may quote the raw URL.
        raise exception.InvalidCellURL(
            cell=label, kind='transport', url=urls.mask_url(url),
            reason=reason) from None
    _STATE.transport_keys.add(key)
    return transport


def _cell_transport(ctxt: Any) -> Any:
    """The transport of the cell ``ctxt`` is targeted at (not cell0)."""
    key = ctxt.mq_connection
    if key == connections.NO_TRANSPORT_KEY:
        raise exception.CellHasNoMessageQueue(cell=ctxt.cell_uuid)
    # Building the transport checks its URL without connecting; only then
    # is the broker itself checked.
    transport = _transport_for_key(key, ctxt.cell_uuid)
    cell_queue.ensure_reachable(key, str(ctxt.cell_uuid))
    return transport


def get_transport() -> Any:
    """The default transport, from ``[DEFAULT] transport_url``.

    :raises RPCNotInitialized: :func:`init` has not been called.
    :raises InvalidCellURL: the URL is unusable (password masked).
    """
    if not _STATE.initialized:
        raise exception.RPCNotInitialized()
    registry = connections.get_registry()
    key = registry.transport_key(registry.conf.transport_url,
                                 cell=_DEFAULT_TRANSPORT_LABEL)
    if key == connections.NO_TRANSPORT_KEY:
        raise exception.CellHasNoMessageQueue(cell=_DEFAULT_TRANSPORT_LABEL)
    return _transport_for_key(key, _DEFAULT_TRANSPORT_LABEL)


def _context_serializer(serializer: Any,
                        serving_context: Any = None
                        ) -> RequestContextSerializer:
    if isinstance(serializer, RequestContextSerializer):
        if serving_context is None:
            return serializer
        return serializer.serving(serving_context)
    return RequestContextSerializer(serializer,
                                    serving_context=serving_context)


def get_client(target: oslo_messaging.Target,
               version_cap: str | None = None,
               serializer: Any = None, *,
               timeout: float | None = None,
               retry: int | None = None) -> oslo_messaging.RPCClient:
    """An RPC client on the default transport.

    ``serializer`` handles entities (versioned objects by default) and is
    wrapped in a :class:`RequestContextSerializer` unless it is one. Hand
    the client to :class:`ClientRouter` to reach targeted cells; the
    router's cell clients copy its target, cap, serializer and timeouts.
    """
    return oslo_messaging.get_rpc_client(
        get_transport(), target, version_cap=version_cap,
        serializer=_context_serializer(serializer), timeout=timeout,
        retry=retry)


def get_server(target: oslo_messaging.Target, endpoints: list,
               serializer: Any = None,
               context: Any = None) -> oslo_messaging.MessageHandlingServer:
    """An RPC server for ``endpoints``, not yet started.

    Untargeted (``context`` None or untargeted), it listens on the default
    transport. Given a targeted context it listens on that cell's transport
    and hands its endpoints contexts targeted at the same cell: how a test,
    or a process serving one cell, answers for that cell alone.

    oslo.messaging picks the threading executor unless eventlet has
    monkey-patched threads; ``stop()`` then ``wait()`` when done.

    :raises CellHasNoMessageQueue: ``context`` is targeted at cell0.
    """
    if context is not None and context.mq_connection is not None:
        transport = _cell_transport(context)
        serving_context = context
    else:
        transport = get_transport()
        serving_context = None
    return oslo_messaging.get_rpc_server(
        transport, target, endpoints,
        serializer=_context_serializer(serializer, serving_context))


def _cell_retry(retry: int | None) -> int | None:
    """A cell client's ``retry``: the default client's, or, where that
    is unset (oslo.messaging: for ever), ``[cells] message_queue_retries``
    so that a send to a broker that died ends and is counted."""
    if retry is not None:
        return retry
    configured = connections.get_registry().conf.cells.message_queue_retries
    return None if configured < 0 else configured


class ClientRouter:
    """Picks the RPC client for a context: its cell's bus, or the default.

    Cell clients are built once per transport and reused; each copies the
    default client's target, version cap, serializer, timeout and retry
    (an unset retry becomes ``[cells] message_queue_retries``),
    so ``router.client(ctxt).prepare(...)`` works as on the default one.

    A cell client reports how each ``call`` and ``cast`` went to the
    queue's fail-fast state (:class:`nova_cells.cell_queue.ReportingClient`):
    a send that cannot reach the broker raises ``CellUnavailable`` and
    counts, as a failed first check does.

    A cached client is checked against the registry's current transport
    for its key (one dictionary lookup and an identity test), so a
    transport disposed by the registry, for instance after a cell's URL
    changed, is never used again: the next call builds a fresh client.
    """

    def __init__(self, default_client: oslo_messaging.RPCClient):
        self.default_client = default_client
        self._lock = threading.Lock()
        self._clients: dict[str, oslo_messaging.RPCClient] = {}

    def client(self, ctxt: Any) -> Any:
        """The client for ``ctxt``'s cell (a reporting one), or the
        default client.

        :raises CellHasNoMessageQueue: ``ctxt`` is targeted at cell0;
            nothing is sent anywhere.
        """
        key = getattr(ctxt, 'mq_connection', None)
        if key is None:
            return self.default_client
        transport = _cell_transport(ctxt)
        client = self._clients.get(key)
        if client is not None and client.transport is transport:
            return client
        return self._build_client(key, transport, str(ctxt.cell_uuid))

    def _build_client(self, key: str, transport: Any,
                      label: str) -> cell_queue.ReportingClient:
        with self._lock:
            client = self._clients.get(key)
            if client is not None and client.transport is transport:
                return client
            default = self.default_client
            client = cell_queue.ReportingClient(
                oslo_messaging.get_rpc_client(
                    transport, default.target,
                    timeout=default.timeout,
                    version_cap=default.version_cap,
                    serializer=default.serializer,
                    retry=_cell_retry(default.retry),
                    call_monitor_timeout=default.call_monitor_timeout,
                    transport_options=default.transport_options),
                key, label)
            self._clients[key] = client
        LOG.debug('Built RPC client for topic %s on transport %s (%s)',
                  default.target.topic, key, urls.mask_url(
                      connections.get_registry().url_for_key(key)))
        return client

    def cached_client_count(self) -> int:
        """Cell clients held (the default client is not counted)."""
        return len(self._clients)
