"""The registry of per-cell engine facades and messaging transports.

A targeted :class:`~nova_cells.context.RequestContext` carries opaque *keys*
(``db_connection``, ``mq_connection``), never URLs: the registry maps a key
to the URL it was derived from and to the oslo.db facade or oslo.messaging
transport built for it.

* Keys derive from the URL (a keyed BLAKE2 digest with a per-process salt),
  so one URL always gets one key and one facade in this process, and a cell
  whose URL changes is routed to the new endpoint on its next targeting with
  no restart. The salt means a key reveals nothing about the URL.
* Facades and transports are created on first use under a lock, so fifty
  threads targeting a new cell at once build exactly one.
* A cell's facade is configured from ``[cell_database]``
  (:mod:`nova_cells.db.cell_engine`), never from ``[database]``: that
  configures the *local* database, and its ``slave_connection`` would send
  a cell's replica reads to the wrong database.
* :meth:`ConnectionRegistry.dispose_database` drops a facade and closes its
  pool; a context still holding the key simply gets a fresh facade for the
  same URL, so disposal is always safe.
"""

import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from nova_cells import cell_health
from nova_cells import exception
from nova_cells import urls
from nova_cells.db import cell_engine
from nova_cells.db import connection_budget
from nova_cells.db.sqlalchemy import dialect_hooks
from nova_cells.db.sqlalchemy import round_trips
from nova_cells.db.sqlalchemy import sqlite as sqlite_tuning

__all__ = [
    'ConnectionRegistry',
    'NO_TRANSPORT_KEY',
    'REGISTRY',
    'get_registry',
]

LOG = logging.getLogger(__name__)

#: ``mq_connection`` of a context targeted at a cell with no message queue
#: (cell0, ``none:///``). RPC through it is refused, never sent elsewhere.
NO_TRANSPORT_KEY = 'mq-none'

_DB_KEY_PREFIX = 'db-'
_MQ_KEY_PREFIX = 'mq-'

def _facade_settings(settings: dict) -> dict:
    """oslo.db ``configure()`` arguments from an option group's values.

    Every key is given explicitly: oslo.db falls back to the global
    ``[database]`` for any key left unset, which for a cell would bring the
    local ``slave_connection`` back in.
    """
    settings = dict(settings)
    # Foreign keys are part of the schema's contract on every backend.
    settings['sqlite_fk'] = True
    # oslo.db sleeps on every connection check-in so eventlet can switch
    # green threads; with the native threads used here it only hands the
    # GIL away, costing about a third of a warm routed read.
    settings['thread_checkin'] = False
    return settings


def _default_transport_factory(conf: cfg.ConfigOpts, url: str):
    import oslo_messaging  # imported late: DB-only users never pay for it

    return oslo_messaging.get_rpc_transport(conf, url=url)


class ConnectionRegistry:
    """Keys, facades and transports for every database and queue in use."""

    def __init__(self, conf: cfg.ConfigOpts | None = None,
                 transport_factory: Callable | None = None):
        self._conf = conf if conf is not None else cfg.CONF
        self._transport_factory = (transport_factory or
                                   _default_transport_factory)
        self._lock = threading.Lock()
        self._salt = os.urandom(16)
        self._key_by_url: dict[tuple[str, str], str] = {}
        self._url_by_key: dict[str, str] = {}
        # The cell a database key was first registered for, for errors.
        self._cell_by_key: dict[str, str] = {}
        self._facades: dict[str, Any] = {}
        # Counts, caps and evicts the connections of cell facades.
        self._budget = connection_budget.ConnectionBudget(
            forget=self._forget_database)
        self._transports: dict[str, Any] = {}
        self._api_facade = None
        self._main_facade = None

    # -- configuration -------------------------------------------------
    def configure(self, conf: cfg.ConfigOpts | None = None,
                  transport_factory: Callable | None = None) -> None:
        """Point the registry at ``conf`` and forget every facade.

        Called by :func:`nova_cells.config.parse_args` and by test fixtures;
        existing pools are disposed so no connection outlives its config,
        and what this process learnt about sick cells is forgotten.
        """
        self.dispose_all()
        self._budget.reset()
        cell_health.BREAKERS.reset()
        if conf is not None:
            self._conf = conf
        if transport_factory is not None:
            self._transport_factory = transport_factory

    @property
    def conf(self) -> cfg.ConfigOpts:
        return self._conf

    # -- keys ----------------------------------------------------------
    def _derive_key(self, prefix: str, url: str) -> str:
        digest = hashlib.blake2b(url.encode('utf-8'), key=self._salt,
                                 digest_size=12).hexdigest()
        return prefix + digest

    def _register(self, prefix: str, url: str) -> str:
        key = self._key_by_url.get((prefix, url))
        if key is not None:
            return key
        with self._lock:
            key = self._key_by_url.get((prefix, url))
            if key is None:
                key = self._derive_key(prefix, url)
                self._url_by_key[key] = url
                self._key_by_url[(prefix, url)] = key
        return key

    def database_key(self, url: str, cell: object = 'local') -> str:
        """Return the key for a database URL, validating it the first time.

        ``cell`` names the cell in errors; anything whose ``str()`` does,
        so a caller can defer building the name until a URL is refused.

        :raises InvalidCellURL: naming ``cell`` with the password masked.
        """
        key = self._key_by_url.get((_DB_KEY_PREFIX, url))
        if key is not None:
            return key
        self._refuse_if(urls.database_url_problem(url), url, 'database',
                        cell)
        key = self._register(_DB_KEY_PREFIX, url)
        self._cell_by_key.setdefault(key, str(cell))
        return key

    def transport_key(self, url: str, cell: object = 'local') -> str:
        """Return the key for a transport URL (cell0's ``none:`` included)."""
        if urls.has_no_transport(url):
            return NO_TRANSPORT_KEY
        key = self._key_by_url.get((_MQ_KEY_PREFIX, url))
        if key is not None:
            return key
        self._refuse_if(urls.transport_url_problem(url), url, 'transport',
                        cell)
        return self._register(_MQ_KEY_PREFIX, url)

    @staticmethod
    def _refuse_if(reason: str | None, url: str, kind: str,
                   cell: object) -> None:
        if reason is not None:
            raise exception.InvalidCellURL(
                cell=str(cell), kind=kind, url=urls.mask_url(url),
                reason=reason)

    def url_for_key(self, key: str) -> str:
        """The URL behind a key; for internal use, never for display."""
        try:
            return self._url_by_key[key]
        except KeyError:
            raise exception.NotFound(
                'No connection is registered under key %s; was the context '
                'targeted in another process?' % key) from None

    # -- database facades ----------------------------------------------
    def _new_facade(self, url: str, settings: dict,
                    busy_timeout_ms: int | None = None,
                    new_facade: Callable = round_trips.new_facade):
        facade = new_facade()
        settings = dict(settings, connection=urls.engine_url(url))
        # Ours, not oslo.db's: handed to the engine hook below instead.
        pool_pre_ping = settings.pop('pool_pre_ping', False)
        if settings.get('slave_connection'):
            settings['slave_connection'] = urls.engine_url(
                settings['slave_connection'])
        # SQLite file pools are built by the tuning hook, from the same
        # settings; oslo.db would hand pool_timeout to its NullPool, which
        # refuses it.
        tune = functools.partial(
            sqlite_tuning.tune_engine,
            max_pool_size=settings.get('max_pool_size'),
            max_overflow=settings.get('max_overflow'),
            pool_timeout=settings.get('pool_timeout'),
            busy_timeout_ms=busy_timeout_ms)
        if urls.parse_database_url(url).get_backend_name() == 'sqlite':
            settings['pool_timeout'] = None
        facade.configure(**settings)
        facade.append_on_engine_create(tune)
        facade.append_on_engine_create(functools.partial(
            round_trips.tune_engine, pool_pre_ping=pool_pre_ping))
        facade.append_on_engine_create(dialect_hooks.tune_engine)
        return facade

    def context_manager(self, key: str):
        """The facade for a database key, created on first use.

        :raises CellUnavailable: the cell's database is marked down
            (:mod:`nova_cells.cell_health`); nothing touches the network.
        """
        facade = self._facades.get(key)
        if facade is not None:
            cell_health.check(key)
            self._budget.touched(key)
            return facade
        url = self.url_for_key(key)
        cell_health.check(key)
        self._configure_budget()
        with self._lock:
            facade = self._facades.get(key)
            if facade is None:
                label = self._cell_by_key.get(key, urls.mask_url(url))
                facade = self._new_facade(
                    url, _facade_settings(
                        cell_engine.facade_settings(self._conf)),
                    cell_engine.sqlite_busy_timeout_ms(self._conf),
                    new_facade=cell_engine.new_facade)
                facade.append_on_engine_create(functools.partial(
                    cell_engine.install, conf=self._conf, cell=label,
                    breaker=cell_health.BREAKERS.get(
                        key, cell_health.DATABASE, label)))
                # Last: it wraps the pool the hooks above built.
                facade.append_on_engine_create(functools.partial(
                    self._budget.install, key))
                self._facades[key] = facade
                LOG.debug('Created database facade %s for %s', key,
                          urls.mask_url(url))
        self._budget.touched(key, self._cell_by_key.get(key))
        return facade

    def _configure_budget(self) -> None:
        group = self._conf.cell_database
        self._budget.configure(group.max_total_connections,
                               group.idle_timeout, group.pool_timeout)

    def connection_stats(self) -> dict:
        """Connections held to cell databases: ``total_open``,
        ``max_total_connections``, ``idle_timeout``, ``evictions`` (a cell
        gave its connections back, at the cap or idle), ``engines_dropped``
        (an idle cell's engine freed too), ``engines`` (cell facades held
        now) and ``cells`` (``{cell: {'open': n, 'in_use': m}}``, cells
        holding connections only). The API and local databases are not
        counted."""
        group = self._conf.cell_database
        # From the configuration: the budget learns it at the first call
        # into a cell, and the figures must be right before that too.
        return dict(self._budget.stats(), engines=self.facade_count(),
                    max_total_connections=group.max_total_connections,
                    idle_timeout=group.idle_timeout)

    def evict_idle_cells(self, unused_for: float = 0.0) -> int:
        """Give back the connections and engines of every cell unused for
        ``unused_for`` seconds with none in use; returns how many."""
        return self._budget.evict_idle(time.monotonic() - unused_for)

    def _local_facade(self, attribute: str, group_name: str):
        facade = getattr(self, attribute)
        if facade is not None:
            return facade
        with self._lock:
            facade = getattr(self, attribute)
            if facade is None:
                group = getattr(self._conf, group_name)
                self._check_configured_url(group_name, group.connection)
                urls.ensure_sqlite_directory(group.connection)
                facade = self._new_facade(
                    group.connection, _facade_settings(dict(group.items())))
                setattr(self, attribute, facade)
        return facade

    @staticmethod
    def _check_configured_url(group_name: str, url: str | None) -> None:
        """Refuse a configured URL before an engine is built from it, so
        no driver gets to quote a misplaced password (the tail of one with
        an unencoded "@" would be sent, and printed, as the host name).

        :raises InvalidDatabaseURL: naming the option, password masked.
        """
        reason = urls.database_url_problem(url) if url else None
        if reason is not None:
            raise exception.InvalidDatabaseURL(
                database='[%s] connection' % group_name,
                url=urls.mask_url(url), reason=reason)

    def api_context_manager(self):
        """The API database facade, from ``[api_database]``."""
        return self._local_facade('_api_facade', 'api_database')

    def main_context_manager(self):
        """The local main database facade, from ``[database]``."""
        return self._local_facade('_main_facade', 'database')

    def facade_count(self) -> int:
        """Cell facades currently held (the local two are not counted)."""
        return len(self._facades)

    # -- transports ----------------------------------------------------
    def transport(self, key: str):
        """The messaging transport for a key, created on first use."""
        if key == NO_TRANSPORT_KEY:
            raise exception.CellNotTargetable(
                cell='(no message queue)',
                reason='its transport_url is none:///, so it has no '
                       'message queue to send to')
        transport = self._transports.get(key)
        if transport is not None:
            return transport
        url = self.url_for_key(key)
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                transport = self._transport_factory(self._conf, url)
                self._transports[key] = transport
                LOG.debug('Created transport %s for %s', key,
                          urls.mask_url(url))
        return transport

    # -- disposal --------------------------------------------------------
    def dispose_database(self, key: str) -> bool:
        """Close a cell facade's pool and forget it; True if one existed.

        A connection in use is closed when its call gives it back
        (:mod:`nova_cells.db.connection_budget`).
        """
        self._budget.retire(key)
        with self._lock:
            facade = self._facades.pop(key, None)
        if facade is None:
            return False
        facade.dispose_pool()
        return True

    def _forget_database(self, key: str) -> None:
        """Drop a cell facade whose pools the budget has closed."""
        with self._lock:
            self._facades.pop(key, None)

    def dispose_transport(self, key: str) -> bool:
        """Clean up a cell transport and forget it; True if one existed."""
        with self._lock:
            transport = self._transports.pop(key, None)
        if transport is None:
            return False
        transport.cleanup()
        return True

    def dispose_all(self) -> None:
        """Dispose every facade and transport, the local ones included."""
        for key in list(self._facades):
            self._budget.retire(key)
        with self._lock:
            facades = list(self._facades.values())
            facades += [f for f in (self._api_facade, self._main_facade)
                        if f is not None]
            transports = list(self._transports.values())
            self._facades.clear()
            self._transports.clear()
            self._api_facade = self._main_facade = None
        for facade in facades:
            facade.dispose_pool()
        for transport in transports:
            transport.cleanup()


REGISTRY = ConnectionRegistry()


def get_registry() -> ConnectionRegistry:
    return REGISTRY
