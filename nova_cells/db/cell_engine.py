"""Engines for cell databases whose every wait is bounded.

A cell facade is configured from ``[cell_database]`` (see
:mod:`nova_cells.conf.cell_database`), never from ``[database]``, and its
engine gets a ``do_connect`` hook that does three things oslo.db does not:

* **Driver timeouts.** Each driver is told how long it may wait, in its
  own words: PyMySQL's ``connect_timeout`` plus a read/write timeout that
  is the connect timeout during the handshake (a listener that accepts and
  never answers fails as fast as a refused port) and the query timeout
  after it; libpq's ``connect_timeout``, ``statement_timeout``,
  ``tcp_user_timeout`` and keepalives; SQLite's busy timeout (set by
  :mod:`nova_cells.db.sqlalchemy.sqlite`). Whatever the cell's URL sets
  itself wins.
* **Retries outside any lock.** oslo.db retries the first connection while
  holding the facade's start lock, which ``dispose_pool`` also takes: a
  thread stuck connecting to a hung cell would block disposal and
  reconfiguration. Cell facades therefore start without connecting
  (``max_retries=0`` for oslo.db) and the retries happen here, on each
  connection attempt, holding nothing.
* **Errors that name the cell.** A connection that cannot be opened
  raises :class:`~nova_cells.exception.CellUnavailable` naming the cell,
  with the driver's reason masked.

Given a ``breaker`` (:class:`nova_cells.cell_health.Breaker`), the engine
also reports to it: a connection that could not be opened (after its
retries) and a statement that timed out or lost its connection are
failures, and raise ``CellUnavailable``; a transaction that ended (its
connection checked back in) is a success. An error the cell answered with
(a missing row, a duplicate, bad SQL) is neither. A pre-ping is never
counted: the pool reconnects after it.
"""

import math
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy
from oslo_config import cfg
from oslo_db import options as oslo_db_options
from oslo_db.sqlalchemy import exc_filters

from nova_cells import exception
from nova_cells import urls
from nova_cells.db.sqlalchemy import round_trips

__all__ = [
    'facade_settings',
    'install',
    'is_cell_fault',
    'load_driver',
    'new_facade',
    'sqlite_busy_timeout_ms',
]

# oslo.db's own defaults for every [database] option: a cell facade starts
# from these, so nothing set in [database] for the local database (its
# slave_connection above all) follows the process into a cell.
_OSLO_DB_DEFAULTS = {opt.dest: opt.default
                     for opt in oslo_db_options.database_opts}

# libpq counts its connect_timeout in whole seconds and treats anything
# below 2 as 2.
_LIBPQ_MIN_CONNECT_TIMEOUT = 2
# Seconds a PostgreSQL connection may sit idle before TCP keepalives probe
# it, the interval between probes, and how many may go unanswered: a cell
# host that vanished is noticed in about 20 s even between statements.
_KEEPALIVE = {'keepalives': 1, 'keepalives_idle': 5,
              'keepalives_interval': 5, 'keepalives_count': 3}


def facade_settings(conf: cfg.ConfigOpts) -> dict:
    """oslo.db ``configure()`` arguments for a cell facade."""
    group = conf.cell_database
    settings = dict(_OSLO_DB_DEFAULTS)
    settings.update(
        connection=None, slave_connection=None,
        asyncio_connection=None, asyncio_slave_connection=None,
        max_pool_size=group.max_pool_size,
        max_overflow=group.max_overflow,
        pool_timeout=group.pool_timeout,
        pool_pre_ping=group.pool_pre_ping,
        # See the module docstring: never connect while starting.
        max_retries=0,
        retry_interval=group.retry_interval)
    return settings


class _CellFactory(round_trips.ReadFactory):
    """The oslo.db factory of a cell facade: started from its own settings.

    oslo.db starts a factory by looking every setting up in ``[database]``
    again (two option look-ups each, about 2 ms per facade, paid by the
    first call into each cell, a dead one included), though a cell facade
    is given every one of them (:func:`facade_settings`) and must not
    follow ``[database]``. Started without a configuration, oslo.db
    resolves the same values from the facade's settings alone.
    """

    def _start(self, conf=False, connection=None, slave_connection=None):
        super()._start(conf=None, connection=connection,
                       slave_connection=slave_connection)


def new_facade():
    """An unconfigured oslo.db transaction context for a cell database."""
    return round_trips.new_facade(_CellFactory)


def sqlite_busy_timeout_ms(conf: cfg.ConfigOpts) -> int | None:
    """The busy timeout for a cell's SQLite file, None for the default."""
    seconds = conf.cell_database.query_timeout
    return int(seconds * 1000) if seconds else None


def load_driver(url: str) -> None:
    """Pay now what a process's first connection to a database like
    ``url`` pays once: importing its dialect and driver and, for PyMySQL,
    building the TLS context all its connections share
    (:mod:`nova_cells.db.mysql_tls`). Nothing is connected.

    A long-running service may call it at start-up for the kinds of
    database its cells use, so that its first call into a cell (a dead
    one included) costs only that call.
    """
    parsed = urls.parse_database_url(urls.engine_url(url))
    dialect = parsed.get_dialect()
    dialect.import_dbapi()
    if parsed.get_backend_name() == 'mysql' and dialect.driver == 'pymysql':
        from nova_cells.db import mysql_tls

        mysql_tls.preferred_context()


def _mysql_connect(dialect, cargs, cparams, connect_timeout, query_timeout):
    if connect_timeout:
        cparams.setdefault('connect_timeout', connect_timeout)
        handshake = cparams['connect_timeout']
        cparams.setdefault('read_timeout', handshake)
        cparams.setdefault('write_timeout', handshake)
    if dialect.driver == 'pymysql':
        # Imported late: only processes with a MySQL cell load PyMySQL.
        from nova_cells.db import mysql_tls

        connection = mysql_tls.connect(dialect, cargs, cparams)
    else:
        connection = dialect.connect(*cargs, **cparams)
    if connect_timeout:
        # PyMySQL reads these before every packet, so from here on a
        # statement gets the query timeout, not the handshake's.
        connection._read_timeout = query_timeout or None
        connection._write_timeout = query_timeout or None
    return connection


def _postgresql_connect(dialect, cargs, cparams, connect_timeout,
                        query_timeout):
    if connect_timeout:
        cparams.setdefault('connect_timeout', max(
            _LIBPQ_MIN_CONNECT_TIMEOUT, math.ceil(connect_timeout)))
    if query_timeout:
        milliseconds = int(query_timeout * 1000)
        options = cparams.get('options') or ''
        if 'statement_timeout' not in options:
            cparams['options'] = (
                options + ' -c statement_timeout=%d' % milliseconds).strip()
        cparams.setdefault('tcp_user_timeout', milliseconds)
    for name, value in _KEEPALIVE.items():
        cparams.setdefault(name, value)
    return dialect.connect(*cargs, **cparams)


def _plain_connect(dialect, cargs, cparams, connect_timeout, query_timeout):
    return dialect.connect(*cargs, **cparams)


_CONNECTORS = {'mysql': _mysql_connect, 'postgresql': _postgresql_connect}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return urls.mask_text(text[0]) if text else type(error).__name__


def _reason(error: BaseException, attempts: int) -> str:
    first = _first_line(error)
    if attempts > 1:
        return 'cannot connect to its database after %d attempts: %s' % (
            attempts, first)
    return 'cannot connect to its database: %s' % first


def install(engine: sqlalchemy.engine.Engine, conf: cfg.ConfigOpts,
            cell: object, breaker: Any = None,
            bound_queries: bool = True) -> None:
    """Bound and retry every connection ``engine`` opens to cell ``cell``.

    ``cell`` names the cell in errors (anything whose ``str()`` does).
    ``bound_queries=False`` leaves statements unbounded (schema
    migrations, which may rightly run for long); connecting stays bounded.
    """
    group = conf.cell_database
    connect_timeout = group.connect_timeout
    query_timeout = group.query_timeout if bound_queries else 0
    attempts = 1 + group.max_retries
    retry_interval = group.retry_interval
    connector: Callable = _CONNECTORS.get(engine.dialect.name,
                                          _plain_connect)
    dbapi_error = engine.dialect.loaded_dbapi.Error

    def do_connect(dialect, _connection_record, cargs, cparams):
        for attempt in range(attempts):
            if attempt:
                time.sleep(retry_interval)
            try:
                connection = connector(dialect, cargs, dict(cparams),
                                       connect_timeout, query_timeout)
            except (dbapi_error, OSError) as error:
                last_error = error
                continue
            # Not yet a success: a server that accepts connections may
            # still never answer a statement. A transaction that ends
            # (check-in, below) is.
            return connection
        reason = _reason(last_error, attempts)
        if breaker is not None:
            breaker.failed(reason)
        raise exception.CellUnavailable(cell=str(cell),
                                        reason=reason) from None

    sqlalchemy.event.listen(engine, 'do_connect', do_connect)
    if breaker is not None:
        _report_statements(engine, cell, breaker)


# Connection-record flag: a statement on it failed as the cell's fault.
_FAILED = 'nova_cells_cell_failed'
# PostgreSQL: statement_timeout fired, server shutting down / starting.
_PG_CELL_FAULTS = frozenset({'57014', '57P01', '57P02', '57P03'})
# MySQL client errors: cannot connect, server gone, lost connection.
_MYSQL_CELL_FAULTS = frozenset({2002, 2003, 2006, 2013, 2055})
_SQLITE_CELL_FAULTS = ('database is locked', 'database is busy')


def is_cell_fault(error: BaseException, is_disconnect: bool = False) -> bool:
    """Did ``error`` (a DBAPI error) come from the cell being down, hung
    or too slow, rather than from what was asked of it?"""
    if is_disconnect:
        return True
    if getattr(error, 'pgcode', None) in _PG_CELL_FAULTS:
        return True
    args = getattr(error, 'args', ())
    if args and args[0] in _MYSQL_CELL_FAULTS:
        return True
    text = str(error)
    return any(marker in text for marker in _SQLITE_CELL_FAULTS)


def _report_statements(engine, cell: object, breaker: Any) -> None:
    def on_error(context):
        if context.is_pre_ping:
            return None
        error = context.original_exception
        if not is_cell_fault(error, context.is_disconnect):
            # The cell answered, with an error of the caller's making:
            # not counted (the transaction's end, at check-in, ends a run
            # of failures).
            return None
        reason = 'its database did not answer in time or dropped the ' \
                 'connection: %s' % _first_line(error)
        breaker.failed(reason)
        connection = context.connection
        if connection is not None and not connection.invalidated:
            try:
                connection.info[_FAILED] = True
            except Exception:  # noqa: S110 - already invalidated
                pass
        raise exception.CellUnavailable(cell=str(cell), reason=reason)

    def on_checkin(dbapi_connection, connection_record):
        failed = connection_record.info.pop(_FAILED, False)
        if dbapi_connection is None or failed:
            return
        if breaker.failures or breaker.down_until is not None:
            breaker.succeeded()

    # Ahead of oslo.db's error translation, which ends the chain by
    # raising: re-register it after ours.
    translating = sqlalchemy.event.contains(engine, 'handle_error',
                                            exc_filters.handler)
    if translating:
        sqlalchemy.event.remove(engine, 'handle_error', exc_filters.handler)
    sqlalchemy.event.listen(engine, 'handle_error', on_error, retval=True)
    if translating:
        sqlalchemy.event.listen(engine, 'handle_error', exc_filters.handler,
                                retval=True)
    sqlalchemy.event.listen(engine.pool, 'checkin', on_checkin)
