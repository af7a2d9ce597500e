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


def _emit_begin(connection) -> None:
    """oslo.db's SQLite ``begin`` listener, minus a full SQLAlchemy
    statement execution for the word BEGIN (a sixth of a routed read).

    oslo.db turns pysqlite's own transaction handling off and emits BEGIN
    itself; the ``in_transaction`` marker it keeps (and clears on commit
    and rollback) is kept the same way here. A deferred BEGIN takes no
    lock, so it has no error for oslo.db to translate.

    A one-statement read on its own (marked by
    :class:`~nova_cells.db.sqlalchemy.round_trips.ReadFactory`) gets no
    BEGIN: SQLite runs a lone SELECT in a read transaction of its own
    anyway, so the BEGIN would only cost one more call into the driver.
    """
    if ('in_transaction' not in connection.info and
            not round_trips.is_lone_read(connection)):
        connection.connection.driver_connection.execute('BEGIN')
        connection.info['in_transaction'] = True


def _replace_begin_listener(engine: sqlalchemy.engine.Engine) -> None:
    # Only ever a swap: were oslo.db's listener renamed, it stays as it is
    # rather than being doubled (two BEGINs fail).
    for listener in list(engine.dispatch.begin):
        if getattr(listener, '__name__', None) == '_sqlite_emit_begin':
            sqlalchemy.event.remove(engine, 'begin', listener)
            sqlalchemy.event.listen(engine, 'begin', _emit_begin)


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

    def before_cursor_execute(connection, _cursor, statement, *_args):
        if not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
            return
        writers = _writers()
        dbapi_connection = connection.connection.dbapi_connection
        holder = writers.get(path)
        if holder is None:
            writers[path] = dbapi_connection
        elif holder is not dbapi_connection:
            raise exception.SQLiteNestedWrite(path=path)

    def ended(connection) -> None:
        _release(connection.connection.dbapi_connection)

    def _release(dbapi_connection, *_args) -> None:
        writers = _writers()
        if writers.get(path) is dbapi_connection:
            del writers[path]

    sqlalchemy.event.listen(engine, 'before_cursor_execute',
                            before_cursor_execute)
    sqlalchemy.event.listen(engine, 'commit', ended)
    sqlalchemy.event.listen(engine, 'rollback', ended)
    # A connection handed back without either (reset by the pool).
    sqlalchemy.event.listen(engine.pool, 'checkin', _release)


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
    _replace_begin_listener(engine)
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
