"""Per-cell RPC costs (prints JSON).

Measured:

* ``router_client_warm_us``: ``ClientRouter.client(ctxt)`` for a cell whose
  client already exists (the per-message routing cost), median and p99
  over batches; ``router_client_default_us`` is the untargeted case.
* ``fake_call_ms``: a call round trip through the router over
  oslo.messaging's ``fake://`` driver. Its listener polls every 50 ms, so
  this measures that poll, not the code here: a plumbing check only.
* ``rabbit_call_ms``: the same round trip over RabbitMQ on 127.0.0.1:5672
  (the ``nova_cells_test_cell1`` vhost if it exists, else ``/``); skipped
  with a reason when the broker is not reachable.

Usage: ``.venv/bin/python benchmarks/bench_rpc.py``; ``run()`` returns the
figures as a dict. Leaves :mod:`nova_cells.rpc` uninitialized and the
connection registry as it found it. Bounded: about 10 s in all.
"""

import contextlib
import json
import logging
import socket
import sys
import time
import uuid as uuid_lib
import warnings

try:
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import timing

ROUTER_BATCHES = 2000
ROUTER_BATCH_SIZE = 100
FAKE_CALLS = 40
RABBIT_CALLS = 500
WARMUP_CALLS = 5
RABBIT_HOST, RABBIT_PORT = '127.0.0.1', 5672
RABBIT_VHOSTS = ('nova_cells_test_cell1', '')


def _summary(samples: list[float], digits: int = 3) -> dict:
    return dict(timing.summary(samples, None, digits), samples=len(samples))


class _Cell:
    """What targeting needs of a cell (a CellMapping fits too)."""

    def __init__(self, transport_url: str):
        self.uuid = str(uuid_lib.uuid4())
        self.database_connection = 'sqlite:///bench-rpc-unused.sqlite'
        self.transport_url = transport_url


@contextlib.contextmanager
def _messaging(default_url: str, rabbit: bool = False):
    """A private config and registry; rpc initialized on them."""
    from oslo_config import cfg
    from oslo_messaging import opts as messaging_opts

    from nova_cells import connections
    from nova_cells import rpc
    from nova_cells.conf import register_all

    conf = cfg.ConfigOpts()
    register_all(conf)
    conf([], project='nova_cells', default_config_files=[])
    conf.set_override('transport_url', default_url)
    if rabbit:
        for group, opts in messaging_opts.list_opts():
            if group == 'oslo_messaging_rabbit':
                conf.register_opts(opts, group=group)
        for name, value in (('amqp_auto_delete', True),
                            ('rabbit_transient_queues_ttl', 2),
                            ('heartbeat_timeout_threshold', 0)):
            conf.set_override(name, value, group='oslo_messaging_rabbit')
    saved = connections.REGISTRY
    connections.REGISTRY = connections.ConnectionRegistry(conf)
    rpc.cleanup()
    rpc.init(conf)
    try:
        yield
    finally:
        rpc.cleanup()
        connections.REGISTRY.dispose_all()
        connections.REGISTRY = saved


class _Pong:
    def ping(self, ctxt):
        return 'pong'


def _router_and_server(cell_url: str, timeout: float):
    """A router and a started server for a cell at ``cell_url``."""
    import oslo_messaging

    from nova_cells import context
    from nova_cells import rpc

    topic = 'nova_cells_bench_%s' % uuid_lib.uuid4().hex[:8]
    ctxt = context.get_admin_context()
    context.set_target_cell(ctxt, _Cell(cell_url))
    server = rpc.get_server(oslo_messaging.Target(topic=topic, server='b'),
                            [_Pong()], context=ctxt)
    server.start(override_pool_size=4)
    router = rpc.ClientRouter(rpc.get_client(
        oslo_messaging.Target(topic=topic), timeout=timeout, retry=1))
    return router, server, ctxt


def _time_calls(router, ctxt, calls: int) -> list[float]:
    for _ in range(WARMUP_CALLS):
        router.client(ctxt).call(ctxt, 'ping')
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        router.client(ctxt).call(ctxt, 'ping')
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def _stop(server) -> None:
    server.stop()
    server.wait()


def _router_client_cost() -> dict:
    from nova_cells import context

    with _messaging('fake://bench-default/'):
        router, server, ctxt = _router_and_server('fake://bench-cell/', 5)
        try:
            untargeted = context.get_admin_context()
            results = {}
            for name, target_ctxt in (('router_client_warm_us', ctxt),
                                      ('router_client_default_us',
                                       untargeted)):
                client = router.client
                client(target_ctxt)
                batches = []
                for _ in range(ROUTER_BATCHES):
                    start = time.perf_counter_ns()
                    for _ in range(ROUTER_BATCH_SIZE):
                        client(target_ctxt)
                    batches.append((time.perf_counter_ns() - start) /
                                   ROUTER_BATCH_SIZE / 1e3)
                results[name] = _summary(batches)
            fake = _summary(_time_calls(router, ctxt, FAKE_CALLS))
            fake['note'] = ('dominated by the fake driver polling every '
                            '50 ms; not a speed figure')
            results['fake_call_ms'] = fake
        finally:
            _stop(server)
    return results


def _usable_rabbit_vhost() -> tuple[str | None, str]:
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT),
                                 timeout=1).close()
    except OSError as error:
        return None, 'RabbitMQ not reachable on %s:%d (%s)' % (
            RABBIT_HOST, RABBIT_PORT, error)
    import kombu

    for vhost in RABBIT_VHOSTS:
        connection = kombu.Connection('amqp://guest:guest@%s:%d/%s' % (
            RABBIT_HOST, RABBIT_PORT, vhost), connect_timeout=2)
        try:
            connection.connect()
            return vhost, ''
        except Exception:  # try the next vhost
            continue
        finally:
            connection.release()
    return None, 'no usable vhost among %s for guest' % (RABBIT_VHOSTS,)


def _rabbit_round_trip() -> dict:
    vhost, reason = _usable_rabbit_vhost()
    if vhost is None:
        return {'skipped': reason}
    base = 'rabbit://guest:guest@%s:%d/' % (RABBIT_HOST, RABBIT_PORT)
    with _messaging(base, rabbit=True):
        router, server, ctxt = _router_and_server(base + vhost, 5)
        try:
            result = _summary(_time_calls(router, ctxt, RABBIT_CALLS))
        finally:
            _stop(server)
    result['vhost'] = vhost or '/'
    return result


def run() -> dict:
    """Every figure above, as a dict."""
    warnings.simplefilter('ignore')
    started = time.perf_counter()
    results = _router_client_cost()
    results['rabbit_call_ms'] = _rabbit_round_trip()
    results['elapsed_s'] = round(time.perf_counter() - started, 1)
    return results


def main() -> int:
    # Keep the broker client's shutdown chatter off the terminal.
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(run(), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
