"""Make oslo.db's SQLite file engines fit for a long-running service.

oslo.db gives SQLite *file* databases a ``NullPool``, so every transaction
opens and closes a connection (about 2 ms of Nova's 2.2 ms mapping lookup
on this kind of machine). The embedded default must not pay that, so the
engine's pool is swapped for a ``QueuePool`` that keeps oslo.db's connect
events (``_dispatch``), and each connection waits for a busy database
instead of failing at once, with WAL so readers never block the writer.
The pool is sized by ``[database]`` ``max_pool_size``, ``max_overflow``
and ``pool_timeout``, as a MySQL or PostgreSQL pool would be. Every file
engine compiles into one process-wide cache
(:mod:`nova_cells.db.sqlalchemy.compiled_cache`).
"""

import functools
import os
import sqlite3
import threading

import sqlalchemy
from sqlalchemy import pool as sa_pool

from nova_cells import exception
from nova_cells import urls
from nova_cells.db.sqlalchemy import compiled_cache
from nova_cells.db.sqlalchemy import dialect_hooks
from nova_cells.db.sqlalchemy import round_trips

__all__ = [
    'BUSY_TIMEOUT_MS',
    'MAX_OVERFLOW',
    'POOL_SIZE',
    'POOL_TIMEOUT',
    'tune_engine',
]

# Threads waiting to write one SQLite file queue up on its lock; give them
# long enough that a burst of writers does not turn into "database is
# locked" errors.
BUSY_TIMEOUT_MS = 30000
# Used when the configuration leaves the pool size unset (None).
POOL_SIZE = 5
MAX_OVERFLOW = 20
POOL_TIMEOUT = 30.0


def _is_file_database(engine: sqlalchemy.engine.Engine) -> bool:
    return urls.sqlite_file(
        engine.url.render_as_string(hide_password=False)) is not None


def _on_connect(dbapi_connection, _connection_record,
                busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute('PRAGMA busy_timeout = %d' % busy_timeout_ms)
        try:
            cursor.execute('PRAGMA journal_mode = WAL')
        except sqlite3.OperationalError:
            # Switching to WAL writes to the file: a database opened read
            # only (file mode, mode=ro) keeps its journal mode, so that
            # reading commands still work on it.
            pass
    finally:
        cursor.close()


def _begin(pooled_connection) -> None:
    """oslo.db's SQLite ``BEGIN``, sent by the dialect instead of a
    ``begin`` listener (:mod:`~nova_cells.db.sqlalchemy.dialect_hooks`),
    and straight to the driver, not as a SQLAlchemy statement.

    oslo.db turns pysqlite's own transaction handling off and sends BEGIN
    itself, unless the driver connection is in a transaction already. A
    deferred BEGIN takes no lock, so it has no error for oslo.db to
    translate.

    A one-statement read on its own (marked by
    :class:`~nova_cells.db.sqlalchemy.round_trips.ReadFactory`) gets no
    BEGIN: SQLite runs a lone SELECT in a read transaction of its own
    anyway, so the BEGIN would only cost one more call into the driver.
    """
    driver_connection = pooled_connection.driver_connection
    if not (driver_connection.in_transaction or
            round_trips.is_lone_read(pooled_connection)):
        driver_connection.execute('BEGIN')


_OSLO_DB_ENGINES = 'oslo_db.sqlalchemy.engines'


def _move_begin(engine: sqlalchemy.engine.Engine) -> None:
    # Only ever a swap: were oslo.db's listeners renamed, they stay as
    # they are rather than BEGIN being sent twice (which fails).
    if dialect_hooks.remove_all_or_none(engine, [
            ('begin', '_sqlite_emit_begin', _OSLO_DB_ENGINES),
            ('commit', '_sqlite_end_transaction', _OSLO_DB_ENGINES),
            ('rollback', '_sqlite_end_transaction', _OSLO_DB_ENGINES)]):
        dialect_hooks.on_begin(engine, _begin)


# Per thread: SQLite file -> the DBAPI connection holding a write
# transaction on it. SQLite allows one writer per file; a second
# connection of the same thread that writes (a targeted write nested in a
# write transaction on the same cell) would wait on its own thread's lock
# for the whole busy timeout and then fail, so it fails at once instead.
_WRITERS = threading.local()
_WRITE_VERBS = ('INSERT', 'UPDATE', 'DELETE', 'REPLACE')


def _writers() -> dict:
    writers = getattr(_WRITERS, 'by_file', None)
    if writers is None:
        writers = _WRITERS.by_file = {}
    return writers


def _guard_single_writer(engine: sqlalchemy.engine.Engine) -> None:
    path = os.path.realpath(engine.url.database)

    def before_statement(cursor, statement: str) -> None:
        if not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
            return
        writers = _writers()
        dbapi_connection = cursor.connection
        holder = writers.get(path)
        if holder is None:
            writers[path] = dbapi_connection
        elif holder is not dbapi_connection:
            raise exception.SQLiteNestedWrite(path=path)

    def release(connection, *_args) -> None:
        dbapi_connection = dialect_hooks.dbapi_connection_of(connection)
        writers = _writers()
        if writers.get(path) is dbapi_connection:
            del writers[path]

    dialect_hooks.before_statement(engine, before_statement)
    dialect_hooks.on_transaction_end(engine, release)
    # A connection handed back without either (reset by the pool).
    sqlalchemy.event.listen(engine.pool, 'checkin', release)


def _or_default(value, default):
    return default if value is None else value


def tune_engine(engine: sqlalchemy.engine.Engine,
                max_pool_size: int | None = None,
                max_overflow: int | None = None,
                pool_timeout: float | None = None,
                busy_timeout_ms: int | None = None) -> None:
    """oslo.db ``on_engine_create`` hook; leaves non-SQLite engines alone.

    Bind the pool settings with :func:`functools.partial`; left out (or
    None) they fall back to this module's defaults.
    """
    if engine.dialect.name != 'sqlite' or not _is_file_database(engine):
        return
    old_pool = engine.pool
    sqlalchemy.event.listen(old_pool, 'connect', functools.partial(
        _on_connect,
        busy_timeout_ms=_or_default(busy_timeout_ms, BUSY_TIMEOUT_MS)))
    _move_begin(engine)
    round_trips.allow_lone_reads(engine.dialect)
    if isinstance(old_pool, sa_pool.NullPool):
        engine.pool = sa_pool.QueuePool(
            old_pool._creator,
            pool_size=_or_default(max_pool_size, POOL_SIZE),
            max_overflow=_or_default(max_overflow, MAX_OVERFLOW),
            timeout=_or_default(pool_timeout, POOL_TIMEOUT),
            recycle=old_pool._recycle,
            echo=old_pool.echo,
            logging_name=old_pool._orig_logging_name,
            reset_on_return=old_pool._reset_on_return,
            # oslo.db pings every checkout to catch connections a server
            # dropped; a file has no server, so the ping only costs a
            # statement per transaction.
            pre_ping=False,
            # Keep the listeners oslo.db registered (foreign keys, its own
            # BEGIN handling, fork guards) on the new pool.
            _dispatch=old_pool.dispatch,
            dialect=old_pool._dialect,
        )
        old_pool.dispose()
    _guard_single_writer(engine)
    # A cell's statements are compiled once per process, not per cell.
    compiled_cache.share(engine)
