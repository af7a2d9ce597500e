"""Which database a DB API call reaches, and the transaction decorators.

:func:`get_context_manager` is the only place that decides.
``database='api'`` always means the API database; ``database='main'``
means the cell the context is targeted at, else the local ``[database]``.
Engines, sessions and the reader/writer decorators all go through it, so a
function written once is routed per call by the context it is given.

Separate from :mod:`nova_cells.db.sqlalchemy.api` (the main-database
functions) because every DB half uses it, the mapping objects' included,
and because it is on every routed call's path: what it costs, each call
pays. :mod:`~nova_cells.db.sqlalchemy.api` offers the same names.
"""

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from nova_cells import connections
from nova_cells import exception

__all__ = [
    'DATABASES',
    'api_connection_reader',
    'api_reader',
    'api_writer',
    'get_context_manager',
    'get_engine',
    'get_session',
    'main_async_reader',
    'main_connection_reader',
    'main_reader',
    'main_writer',
    'pick_context_manager_reader',
    'pick_context_manager_reader_allow_async',
    'pick_context_manager_writer',
]

DATABASES = ('main', 'api')


def get_context_manager(context: Any = None, database: str = 'main',
                        caller: str = 'get_context_manager'):
    """The oslo.db transaction context manager for ``database``.

    Routing precedence: ``'api'`` is the API database whatever the context
    says; ``'main'`` is the context's targeted cell, else the local one.

    :raises UntargetedContext: ``'main'`` through an untargeted context
        while ``[cells] require_targeted_context`` is on; ``caller`` names
        the DB API function in the message.
    """
    registry = connections.get_registry()
    if database == 'main':
        key = getattr(context, 'db_connection', None)
        if key is not None:
            return registry.context_manager(key)
        # Only the untargeted path reads the option: routed calls pay
        # nothing for strict targeting.
        if registry.conf.cells.require_targeted_context:
            raise exception.UntargetedContext(function=caller)
        return registry.main_context_manager()
    if database == 'api':
        return registry.api_context_manager()
    raise exception.InvalidDatabaseName(database=database)


def get_engine(use_slave: bool = False, context: Any = None,
               database: str = 'main') -> sa.engine.Engine:
    """The engine :func:`get_context_manager` selects (reader if slave)."""
    manager = get_context_manager(context, database, 'get_engine')
    return (manager.reader if use_slave else manager.writer).get_engine()


def get_session(use_slave: bool = False, context: Any = None,
                database: str = 'main', **kwargs: Any):
    """A new ORM session on the engine :func:`get_context_manager` picks."""
    manager = get_context_manager(context, database, 'get_session')
    maker = (manager.reader if use_slave else manager.writer)
    return maker.get_sessionmaker()(**kwargs)


# oslo.db builds a new manager object on every ``.reader``/``.writer``
# access; they are immutable, so each facade's managers are made once and
# kept on the facade itself. Not in a WeakKeyDictionary keyed by facade:
# every manager refers back to its facade, so no entry could ever be
# dropped and a disposed cell's facade (engine, dialect, caches) would
# live for ever. On the facade they form a cycle the collector frees.
_MODES_ATTRIBUTE = '_nova_cells_modes'
_READER, _WRITER, _CONNECTION_READER, _ASYNC_READER = range(4)


def _modes_of(manager) -> tuple:
    """``(reader, writer, reader.connection, reader.allow_async)`` of a
    facade, built once."""
    modes = getattr(manager, _MODES_ATTRIBUTE, None)
    if modes is None:
        modes = (manager.reader, manager.writer, manager.reader.connection,
                 manager.reader.allow_async)
        setattr(manager, _MODES_ATTRIBUTE, modes)
    return modes


def _transactional(database: str, mode: int) -> Callable:
    def decorator(function: Callable) -> Callable:
        name = function.__qualname__

        @functools.wraps(function)
        def wrapper(context, *args, **kwargs):
            manager = get_context_manager(context, database, name)
            with _modes_of(manager)[mode].using(context):
                return function(context, *args, **kwargs)
        return wrapper
    return decorator


def _connection_reader(database: str) -> Callable:
    def decorator(function: Callable) -> Callable:
        name = function.__qualname__

        @functools.wraps(function)
        def wrapper(context, *args, **kwargs):
            manager = get_context_manager(context, database, name)
            with _modes_of(manager)[_CONNECTION_READER].using(context):
                # Inside a caller's ORM transaction the connection is the
                # session's; flush it first, as the session's autoflush
                # would, so the read still sees that transaction's writes.
                session = context.transaction_ctx.session
                if session is not None:
                    session.flush()
                return function(context, *args, **kwargs)
        return wrapper
    return decorator


#: Run a function in a reader/writer transaction on the context's main DB.
main_reader = _transactional('main', _READER)
main_writer = _transactional('main', _WRITER)
#: A reader that may use ``[database] slave_connection`` when one is set
#: (oslo.db's ``allow_async``): for reads that tolerate replication lag.
main_async_reader = _transactional('main', _ASYNC_READER)
#: The same on the API database (for the mapping objects' DB halves).
api_reader = _transactional('api', _READER)
api_writer = _transactional('api', _WRITER)
#: Reads of ONE statement, handed a SQLAlchemy Core ``context.connection``
#: instead of an ORM ``context.session`` (which skips the session's own
#: bookkeeping, about half the cost of a single-row read on SQLite). On
#: their own they run in autocommit on MySQL and PostgreSQL, one round trip
#: (:mod:`nova_cells.db.sqlalchemy.round_trips`); nested in another
#: transaction on the same database they join it, as ``main_reader`` does,
#: and see its uncommitted rows. Reads of several statements that need one
#: snapshot use ``main_reader``/``api_reader`` (``context.session``).
#: Never a write: on its own such a function runs without a transaction
#: (MySQL and PostgreSQL in autocommit, SQLite files without ``BEGIN``),
#: so a write would be committed at once, not rolled back with the reader.
main_connection_reader = _connection_reader('main')
api_connection_reader = _connection_reader('api')

#: Nova's names for the main-database decorators (``nova.db.main.api``),
#: so DB API code written for Nova is routed unchanged. The same objects
#: as this module's own, not copies.
pick_context_manager_reader = main_reader
pick_context_manager_writer = main_writer
pick_context_manager_reader_allow_async = main_async_reader
