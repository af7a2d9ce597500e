"""One round trip per routed read on PostgreSQL and MySQL.

A routed read is one statement, yet through oslo.db it cost four round
trips to the server: a ping at pool checkout (oslo.db turns SQLAlchemy's
``pool_pre_ping`` on), ``BEGIN`` (psycopg2 sends it by itself; MySQL opens
its transaction implicitly), the statement, and ``ROLLBACK`` when the
connection goes back to the pool. Only the statement is needed. What is
done, and when:

* **At pool checkout: nothing.** The ping is off unless the operator sets
  ``pool_pre_ping``. A connection the server dropped is found by the
  statement itself: oslo.db raises ``DBConnectionError`` (so retries and
  fail-fast see what they always saw), and SQLAlchemy then replaces every
  connection of that pool opened before the failure, so one call per pool
  sees a server restart, not one per connection. ``connection_recycle_time``
  still retires old connections, without a round trip.
* **Outermost one-statement reads** (the DB API's and objects' Core
  connection readers, :func:`nova_cells.db.sqlalchemy.api
  .main_connection_reader`) run in autocommit: :class:`ReadFactory` hands
  oslo.db a connection in SQLAlchemy's ``AUTOCOMMIT`` isolation for them,
  so no ``BEGIN`` and no ``ROLLBACK`` are sent. A read inside an enclosing
  transaction on the same database never gets here: oslo.db joins that
  transaction, so the read sees its uncommitted rows.
* **Everything else keeps its transaction**: writers, ORM readers, and
  reads of several statements that need one snapshot.
* **PostgreSQL** (psycopg2): switching a connection to autocommit and back
  only sets a flag in the driver; nothing is sent.
* **MySQL** (PyMySQL): switching costs a ``SET autocommit`` each way, so
  MySQL connections stay in autocommit *at rest* instead, and a
  transaction is opened with an explicit ``BEGIN`` right before its first
  statement (or the first one after a statement that committed
  implicitly, such as DDL, exactly where MySQL would open its next
  implicit transaction). ``COMMIT`` and ``ROLLBACK`` are skipped when the
  server reports no open transaction. A write therefore costs what it did
  before (``BEGIN`` replaces the ping), and a read costs one round trip.

SQLite files have no server to make a round trip to, but the ``BEGIN``
oslo.db sends before a one-statement read still costs a call into the
driver: :class:`ReadFactory` marks such a read's connection (a *lone
read*) on engines that allow it, and the SQLite tuning
(:mod:`nova_cells.db.sqlalchemy.sqlite`) then sends no ``BEGIN``.

Every hook here runs in the engine's dialect, not as a connection event
listener, so that SQLAlchemy can skip its per-statement event dispatch
(:mod:`nova_cells.db.sqlalchemy.dialect_hooks`). Not
through SQLAlchemy's ``AUTOCOMMIT`` level, whose switch back and forth
costs more Python than the ``BEGIN`` it saves. In-memory SQLite is left
as it is.
"""

import sqlalchemy
from oslo_db.sqlalchemy import enginefacade
from sqlalchemy.dialects.mysql import base as mysql_base

from nova_cells.db.sqlalchemy import dialect_hooks

__all__ = [
    'ReadFactory',
    'SERVER_BACKENDS',
    'allow_lone_reads',
    'is_lone_read',
    'new_facade',
    'tune_engine',
]

#: Backends whose engines this module tunes.
SERVER_BACKENDS = frozenset({'mysql', 'postgresql'})
_AUTOCOMMIT = 'AUTOCOMMIT'
# PyMySQL's SERVER_STATUS_IN_TRANS flag, from the last reply's status.
_MYSQL_IN_TRANSACTION = 1
# Attribute on a dialect: its engine sends no BEGIN for a lone read.
_LONE_READS = '_nova_cells_lone_reads'
# Attribute on a SQLAlchemy Connection (one per checkout): a lone read.
_LONE_READ = '_nova_cells_lone_read'
# Attribute on a PyMySQL connection: the isolation level SQLAlchemy last
# asked for (absent: the dialect's default).
_MYSQL_LEVEL = '_nova_cells_isolation_level'


def tune_engine(engine: sqlalchemy.engine.Engine,
                pool_pre_ping: bool = False) -> None:
    """oslo.db ``on_engine_create`` hook; leaves SQLite engines alone.

    Bind ``pool_pre_ping`` (the operator's choice) with
    :func:`functools.partial`.
    """
    if engine.dialect.name not in SERVER_BACKENDS:
        return
    # oslo.db passes pool_pre_ping=True to create_engine and offers no way
    # to turn it off; the pool reads this flag at every checkout.
    engine.pool._pre_ping = bool(pool_pre_ping)
    if engine.dialect.name == 'mysql':
        _mysql_autocommit_at_rest(engine)
    else:
        _postgresql_free_autocommit(engine)


def allow_lone_reads(dialect) -> None:
    """Have :class:`ReadFactory` mark the lone reads on the engine of
    ``dialect`` (one engine's own); its ``BEGIN`` hook must then skip
    the ``BEGIN`` for a connection :func:`is_lone_read` says is one."""
    setattr(dialect, _LONE_READS, True)


def is_lone_read(pooled_connection) -> bool:
    """Was ``pooled_connection`` (the pool's proxy for a DBAPI connection,
    one per checkout) checked out for one read outside any
    transaction?"""
    return getattr(pooled_connection, _LONE_READ, False)


class ReadFactory(enginefacade._TransactionFactory):
    """oslo.db's factory, except that an outermost reader *connection*
    (``reader.connection.using``) is an autocommit connection on MySQL and
    PostgreSQL.

    oslo.db asks its factory for a new connection only when no enclosing
    transaction of this facade is open on the context, so joined reads and
    every writer and ORM session are untouched.
    """

    def _create_connection(self, mode):
        connection = super()._create_connection(mode)
        if mode is not enginefacade._READER:
            return connection
        if connection.dialect.name in SERVER_BACKENDS:
            try:
                connection.execution_options(isolation_level=_AUTOCOMMIT)
            except BaseException:
                connection.close()
                raise
        elif getattr(connection.dialect, _LONE_READS, False):
            # On this checkout's proxy, which the dialect's BEGIN hook is
            # handed; the next checkout gets a new one.
            setattr(connection.connection, _LONE_READ, True)
        return connection


def new_facade(factory: type = ReadFactory
               ) -> enginefacade._TransactionContextManager:
    """A local oslo.db transaction context built on :class:`ReadFactory`
    or a subclass (what :func:`oslo_db.sqlalchemy.enginefacade
    .transaction_context` builds, with this factory)."""
    facade = enginefacade.transaction_context()
    facade._root_factory = factory()
    return facade


# -- PostgreSQL --------------------------------------------------------------

def _postgresql_free_autocommit(engine: sqlalchemy.engine.Engine) -> None:
    dialect = engine.dialect
    set_level = dialect.set_isolation_level

    def set_isolation_level(dbapi_connection, level):
        # Back from autocommit to the server's default level, psycopg2's
        # set_isolation_level() would send SET default_transaction_isolation
        # (a round trip at every check-in); turning autocommit off sends
        # nothing. Only a level set explicitly needs psycopg2's own call.
        if level == _AUTOCOMMIT:
            dbapi_connection.autocommit = True
        elif (level == dialect.default_isolation_level and
              dbapi_connection.isolation_level is None):
            dbapi_connection.autocommit = False
        else:
            set_level(dbapi_connection, level)

    # This engine's own dialect instance; nothing else shares it.
    dialect.set_isolation_level = set_isolation_level


# -- MySQL -------------------------------------------------------------------

def _mysql_in_transaction(dbapi_connection) -> bool:
    return bool(dbapi_connection.server_status & _MYSQL_IN_TRANSACTION)


def _mysql_autocommit_at_rest(engine: sqlalchemy.engine.Engine) -> None:
    dialect = engine.dialect

    def autocommit_on_connect(_dialect, _record, _cargs, cparams):
        # Asked for in the handshake, so PyMySQL sends no SET autocommit;
        # returns None so the next do_connect hook (or the driver) connects.
        cparams['autocommit'] = True

    def ensure_autocommit(dbapi_connection, _record):
        # Whoever connected (another do_connect hook may have), the
        # connection must be in autocommit before first use.
        if not dbapi_connection.get_autocommit():
            dbapi_connection.autocommit(True)

    def set_isolation_level(dbapi_connection, level):
        # AUTOCOMMIT (a one-statement read) and back to the default only
        # change what the next statement does (see begin_if_needed);
        # only a non-default level needs SQL.
        previous = getattr(dbapi_connection, _MYSQL_LEVEL, None)
        default = dialect.default_isolation_level
        wanted = None if level in (_AUTOCOMMIT, default) else level
        current = None if previous in (None, _AUTOCOMMIT, default) \
            else previous
        if wanted != current:
            mysql_base.MySQLDialect.set_isolation_level(
                dialect, dbapi_connection, wanted or default)
        setattr(dbapi_connection, _MYSQL_LEVEL, level)

    def begin_if_needed(cursor, _statement):
        dbapi_connection = cursor.connection
        if getattr(dbapi_connection, _MYSQL_LEVEL, None) == _AUTOCOMMIT:
            return
        if not _mysql_in_transaction(dbapi_connection):
            cursor.execute('BEGIN')

    def end_if_open(end):
        def do_end(dbapi_connection):
            if _mysql_in_transaction(dbapi_connection):
                end(dbapi_connection)
        return do_end

    sqlalchemy.event.listen(engine, 'do_connect', autocommit_on_connect)
    sqlalchemy.event.listen(engine.pool, 'connect', ensure_autocommit)
    # oslo.db's connection test opened one before these hooks existed.
    engine.pool.dispose()
    dialect_hooks.before_statement(engine, begin_if_needed)
    # This engine's own dialect instance; nothing else shares it.
    dialect.set_isolation_level = set_isolation_level
    dialect.do_commit = end_if_open(dialect.do_commit)
    dialect.do_rollback = end_if_open(dialect.do_rollback)
