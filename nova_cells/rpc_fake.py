"""One in-process message bus per ``fake://`` transport URL.

oslo.messaging's ``fake://`` driver keeps its exchanges in a *class*
attribute, so every fake transport in a process shares one bus, and
cleaning up any of them empties everyone's queues. Per-cell routing on that
bus could never be shown (or tested) to work: a message sent to the wrong
cell would still be delivered. :func:`isolated_fake_transport`, used as the
connection registry's transport factory, gives each fake transport its own
exchanges, so two URLs really are two buses, as two RabbitMQ virtual hosts
are. Same URL, same transport, same bus. Other drivers are untouched.

This reaches into oslo.messaging's fake driver (``_exchange_manager``); it
is for the demo and the tests, never for a real deployment.
"""

import threading

import oslo_messaging
from oslo_messaging._drivers import impl_fake

__all__ = [
    'isolated_fake_transport',
]


class _PrivateExchangeManager(impl_fake.FakeExchangeManager):
    """The fake driver's exchange manager, with exchanges of its own."""

    def __init__(self, default_exchange):
        super().__init__(default_exchange)
        self._exchanges = {}
        self._exchanges_lock = threading.Lock()

    def cleanup(self):
        with self._exchanges_lock:
            self._exchanges.clear()


def isolated_fake_transport(conf, url: str):
    """An RPC transport for ``url``; a ``fake://`` one gets its own bus."""
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    driver = transport._driver
    if isinstance(driver, impl_fake.FakeDriver):
        driver._exchange_manager = _PrivateExchangeManager(
            driver._default_exchange)
    return transport
