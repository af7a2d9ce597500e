"""Engine hooks run by the dialect, so that SQLAlchemy skips its
connection events.

Once an engine has a single connection-level event listener (``begin``,
``commit``, ``rollback``, ``before_cursor_execute``...), SQLAlchemy
dispatches seven events for every statement on it (connect, begin, before
and after execute, before and after the cursor's execute, rollback),
whatever the listeners do: about a quarter of the Python calls of a
routed one-row read, on every backend. oslo.db registers three such
listeners on every engine (its exception filters' bookkeeping of a
savepoint's rollback cause) and two more on SQLite (its own ``BEGIN``),
and this project's SQLite and MySQL tuning needed three.

Each engine has a dialect instance of its own, and SQLAlchemy calls the
dialect's ``do_begin``, ``do_execute`` (and ``do_executemany``,
``do_execute_no_params``), ``do_commit``, ``do_rollback`` and
``do_rollback_to_savepoint`` at exactly the points those events mark. So
the hooks here wrap those methods on the engine's own dialect instead
(:func:`on_begin`, :func:`before_statement`, :func:`on_transaction_end`),
oslo.db's connection listeners are replaced by their equivalents
(:func:`move_oslo_db_listeners`), and :func:`skip_connection_events`
tells SQLAlchemy there is nothing left to dispatch: it keeps the flag
that says so set for good once any listener was added, even after the
last is removed.

Only listeners found by name are replaced; one renamed in a later oslo.db
stays a listener (slower, never doubled), and any connection listener
still there (oslo.db's ``connection_trace``, one added by an application
or a test) keeps SQLAlchemy dispatching, now or whenever it is added.
Pool events (checkout, checkin, connect) are untouched: SQLAlchemy calls
them only when they have listeners.
"""

import sys
from collections.abc import Callable
from typing import Any

import sqlalchemy
from oslo_db.sqlalchemy import exc_filters
from sqlalchemy.engine import events as sa_events

__all__ = [
    'before_statement',
    'dbapi_connection_of',
    'move_oslo_db_listeners',
    'on_begin',
    'named_listeners',
    'on_transaction_end',
    'remove_all_or_none',
    'skip_connection_events',
    'tune_engine',
]

_STATEMENT_METHODS = ('do_execute', 'do_executemany', 'do_execute_no_params')
_CONNECTION_EVENTS = tuple(
    name for name in dir(sa_events.ConnectionEvents)
    if not name.startswith('_'))


def on_begin(engine: sqlalchemy.engine.Engine,
             hook: Callable[[Any], None]) -> None:
    """``hook(pooled_connection)`` before each transaction begins (where
    the ``begin`` event fires), with the pool's proxy for the DBAPI
    connection of this checkout."""
    dialect = engine.dialect
    do_begin = dialect.do_begin

    def begin(pooled_connection):
        hook(pooled_connection)
        do_begin(pooled_connection)

    dialect.do_begin = begin


def before_statement(engine: sqlalchemy.engine.Engine,
                     hook: Callable[[Any, str], None]) -> None:
    """``hook(cursor, statement)`` right before the driver is handed each
    statement (where ``before_cursor_execute`` fires); raising stops it,
    as SQLAlchemy then handles any statement's error."""
    dialect = engine.dialect
    for name in _STATEMENT_METHODS:
        setattr(dialect, name, _hooked_statement(getattr(dialect, name),
                                                 hook))


def _hooked_statement(execute: Callable, hook: Callable) -> Callable:
    def hooked(cursor, statement, *args, **kwargs):
        hook(cursor, statement)
        return execute(cursor, statement, *args, **kwargs)
    return hooked


def on_transaction_end(engine: sqlalchemy.engine.Engine,
                       hook: Callable[[Any], None]) -> None:
    """``hook(connection)`` after each commit and rollback of the
    driver's transaction (whether or not it raised); SQLAlchemy hands
    these the DBAPI connection or the pool's proxy for it, so ``hook``
    must take either (:func:`dbapi_connection_of`)."""
    dialect = engine.dialect
    for name in ('do_commit', 'do_rollback'):
        setattr(dialect, name, _hooked_end(getattr(dialect, name), hook))


def _hooked_end(end: Callable, hook: Callable) -> Callable:
    def hooked(dbapi_connection):
        try:
            end(dbapi_connection)
        finally:
            hook(dbapi_connection)
    return hooked


def named_listeners(engine: sqlalchemy.engine.Engine, event: str,
                    name: str, module: str) -> list:
    """The ``event`` listeners of ``engine`` that are the function
    ``name`` of ``module``."""
    return [listener for listener in getattr(engine.dispatch, event)
            if getattr(listener, '__name__', None) == name and
            getattr(listener, '__module__', None) == module]


def dbapi_connection_of(connection: Any) -> Any:
    """The DBAPI connection itself, given it or the pool's proxy for it."""
    return getattr(connection, 'dbapi_connection', connection)


def remove_all_or_none(engine: sqlalchemy.engine.Engine,
                       wanted: list[tuple[str, str, str]]) -> bool:
    """Remove the listeners ``(event, name, module)`` of ``engine`` if
    every one of them is there (then True); otherwise leave them all, so
    that nothing is half replaced."""
    found = [(event, named_listeners(engine, event, name, module))
             for event, name, module in wanted]
    if not all(listeners for _event, listeners in found):
        return False
    for event, listeners in found:
        for listener in listeners:
            sqlalchemy.event.remove(engine, event, listener)
    return True


def move_oslo_db_listeners(engine: sqlalchemy.engine.Engine) -> None:
    """oslo.db's exception filters remember why a savepoint was rolled
    back (``DBError.cause`` of the next error on that connection) with
    connection listeners; the same is done here by the dialect.

    The cause is recorded when a savepoint is rolled back during an
    exception, as oslo.db does, and forgotten when the next transaction
    begins (oslo.db forgets it when the transaction ends, and at check-in,
    which its pool listener still does).
    """
    module = exc_filters.__name__
    if not remove_all_or_none(engine, [
            ('rollback_savepoint', 'rollback_savepoint', module),
            ('commit', 'pop_exc_tx', module),
            ('rollback', 'pop_exc_tx', module)]):
        return
    dialect = engine.dialect
    rollback_to_savepoint = dialect.do_rollback_to_savepoint
    cause_key = exc_filters.ROLLBACK_CAUSE_KEY

    def do_rollback_to_savepoint(connection, name):
        cause = sys.exc_info()[1]
        # An invalidated connection's info would reconnect it.
        if cause is not None and not connection.invalidated:
            connection.info[cause_key] = cause
        rollback_to_savepoint(connection, name)

    dialect.do_rollback_to_savepoint = do_rollback_to_savepoint
    on_begin(engine, lambda pooled: pooled.info.pop(cause_key, None))


def skip_connection_events(engine: sqlalchemy.engine.Engine) -> bool:
    """Tell SQLAlchemy that ``engine`` has no connection listener left, if
    so; whether it had none. A listener added later turns dispatching
    back on by itself."""
    dispatch = engine.dispatch
    if any(getattr(dispatch, event, ()) for event in _CONNECTION_EVENTS):
        return False
    engine._has_events = False
    return True


def tune_engine(engine: sqlalchemy.engine.Engine) -> None:
    """oslo.db ``on_engine_create`` hook, after the others that move
    listeners to the dialect: oslo.db's own moved too, and SQLAlchemy told
    when no connection listener is left."""
    move_oslo_db_listeners(engine)
    skip_connection_events(engine)
