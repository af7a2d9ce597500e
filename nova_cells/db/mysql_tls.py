"""PyMySQL connections that share one TLS context instead of building one
each.

PyMySQL (1.2 and later) tries TLS on every connection whose URL sets no
``ssl`` option ("preferred" mode) and, for that, builds a new
:func:`ssl.create_default_context` in each ``Connection()``: the system's
whole CA store is loaded again, about 80 ms of CPU holding the GIL on a
2-core machine, before the first packet is sent. That is paid on every
connection attempt, the failing ones included, so a refused port cost
about 100 ms instead of a fraction of one, a hung cell overran its connect
timeout by as much, and every thread of the process stalled meanwhile.

The context built for preferred mode names no CA and so verifies nothing
(no certificate check, no host name check); nothing about it depends on
the connection. :func:`connect` therefore opens PyMySQL connections that
build it once per process and share it (an ``SSLContext`` is safe to use
from several threads). A URL that sets its own ``ssl`` options gets what
PyMySQL builds for them, as before.
"""

import threading
from typing import Any

import pymysql.connections

__all__ = [
    'connect',
    'preferred_context',
]

_LOCK = threading.Lock()
_preferred: Any = None


class _Connection(pymysql.connections.Connection):
    """A PyMySQL connection whose preferred-mode TLS context is shared."""

    def _create_ssl_ctx(self, sslp):
        global _preferred
        if not isinstance(sslp, dict) or sslp:
            return super()._create_ssl_ctx(sslp)
        if _preferred is None:
            with _LOCK:
                if _preferred is None:
                    # PyMySQL's own recipe, run once.
                    _preferred = super()._create_ssl_ctx(sslp)
        return _preferred


def preferred_context() -> Any:
    """The shared preferred-mode TLS context, built now if it was not yet
    (None with a PyMySQL that does not try TLS unasked).

    Building it is a one-time cost of the process; a service may pay it at
    start-up rather than in its first call into a MySQL cell.
    """
    _Connection(defer_connect=True)  # builds it; opens no socket
    return _preferred


def connect(dialect: Any, cargs: tuple, cparams: dict) -> Any:
    """What ``dialect.connect(*cargs, **cparams)`` does, sharing the
    preferred-mode TLS context when the driver is PyMySQL."""
    if dialect.loaded_dbapi is not pymysql:
        return dialect.connect(*cargs, **cparams)
    return _Connection(*cargs, **cparams)
