"""The consolidated DB API: one function picks the engine facade.

:func:`get_context_manager` is the only place that decides which database a
call reaches. ``database='api'`` always means the API database;
``database='main'`` means the cell the context is targeted at, else the
local ``[database]``. Everything else (engines, sessions, the decorators,
the main-DB functions below) goes through it, so a function written once is
routed per call by the context it is given.

Main-DB functions take the context first and return rows that are safe to
read after the transaction: ORM objects (``expire_on_commit`` is off), or,
from the hot single-row reads, a read-only :class:`Record` of the row.
"""

import functools
import uuid as uuid_lib
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from oslo_db import exception as db_exception
from oslo_utils import timeutils

from nova_cells import connections
from nova_cells import exception
from nova_cells.db.sqlalchemy import models
from nova_cells.db.sqlalchemy import pagination

__all__ = [
    'DATABASES',
    'InstanceRecord',
    'Record',
    'api_connection_reader',
    'api_reader',
    'api_writer',
    'compute_node_create',
    'compute_node_get_all',
    'compute_node_get_all_by_host',
    'compute_node_get_all_unmapped',
    'compute_nodes_mark_mapped',
    'get_context_manager',
    'get_engine',
    'get_session',
    'instance_count',
    'instance_create',
    'instance_destroy',
    'instance_get_all_by_filters',
    'instance_get_by_uuid',
    'instance_page_rows',
    'instance_page_statement',
    'instance_update',
    'main_async_reader',
    'main_connection_reader',
    'main_reader',
    'main_writer',
    'pick_context_manager_reader',
    'pick_context_manager_reader_allow_async',
    'pick_context_manager_writer',
    'service_create',
    'service_get_all',
    'service_get_all_by_binary',
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
main_connection_reader = _connection_reader('main')
api_connection_reader = _connection_reader('api')

#: Nova's names for the main-database decorators (``nova.db.main.api``),
#: so DB API code written for Nova routes through this module unchanged.
#: The same objects as this module's own, not copies.
pick_context_manager_reader = main_reader
pick_context_manager_writer = main_writer
pick_context_manager_reader_allow_async = main_async_reader


def _read_deleted_clause(model, read_deleted: str):
    """``model`` is a mapped class, or a table's ``.c`` for Core."""
    if read_deleted == 'no':
        return model.deleted == 0
    if read_deleted == 'only':
        return model.deleted != 0
    return sa.true()


def _checked_values(model, values: dict, forbidden=('id',)) -> dict:
    columns = model.__table__.columns
    unknown = sorted(k for k in values if k not in columns or k in forbidden)
    if unknown:
        raise exception.Invalid('Unknown or read-only %s field(s): %s' % (
            model.__tablename__, ', '.join(unknown)))
    return dict(values)


def _insert(context, model, values: dict,
            duplicate: Callable[[dict], Exception]):
    """Add one row of ``model`` (its uuid kept or made) and flush it, so a
    duplicate is raised here, as ``duplicate(values)``, not at commit."""
    values = _checked_values(model, values)
    values.setdefault('uuid', str(uuid_lib.uuid4()))
    row = model(**values)
    try:
        context.session.add(row)
        context.session.flush()
    except db_exception.DBDuplicateEntry:
        raise duplicate(values) from None
    return row


# -- instances -------------------------------------------------------------

@main_writer
def instance_create(context, values: dict) -> models.Instance:
    """Create an instance in the context's cell; its uuid is kept or made.

    :raises InstanceExists: an instance with that uuid is already there.
    """
    return _insert(context, models.Instance, values,
                   lambda row: exception.InstanceExists(uuid=row['uuid']))


# The writers' re-read, built once per read_deleted value: building a
# select costs more than SQLAlchemy's compiled cache saves.
_INSTANCE_BY_UUID = {
    read_deleted: sa.select(models.Instance).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        _read_deleted_clause(models.Instance, read_deleted))
    for read_deleted in ('no', 'yes', 'only')}


def _instance_by_uuid(context, uuid: str,
                      read_deleted: str | None = None) -> models.Instance:
    statement = _INSTANCE_BY_UUID[read_deleted or context.read_deleted]
    instance = context.session.execute(
        statement, {'uuid': uuid}).scalar_one_or_none()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return instance


class Record:
    """A read-only snapshot of one row, returned by the hot single-row reads.

    It reads as the row's ORM model does: ``record.uuid``,
    ``record['uuid']``, ``record.get('uuid', default)`` and
    ``record.as_dict()``, with the same names and values. It is not a
    mapped object: it belongs to no session, cannot be changed (setting an
    attribute raises ``AttributeError``) and is not an instance of the
    model class. Change a row through the DB API's write functions.

    Building one costs about a microsecond, where constructing a detached
    ORM object costs about 25 (SQLAlchemy instruments its ``__init__``).
    """

    __slots__ = ('_values',)
    #: Name of the model whose rows this class snapshots (for repr).
    model_name = 'row'

    def __init__(self, values: Any) -> None:
        # A Core row's RowMapping, or any mapping of column to value.
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_'):  # no column's; and no recursion on _values
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError('%s record has no attribute %r' % (
                self.model_name, name)) from None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def as_dict(self) -> dict:
        return dict(self._values)

    def __reduce__(self) -> tuple:
        return type(self), (self.as_dict(),)

    def __repr__(self) -> str:
        return '<%s record id=%s>' % (self.model_name,
                                      self._values.get('id'))


class InstanceRecord(Record):
    """An ``instances`` row as :func:`instance_get_by_uuid` returns it."""

    __slots__ = ()
    model_name = models.Instance.__name__


# The hottest read, in Core (table columns, so no ORM compile plugin), one
# statement per read_deleted value.
_INSTANCE_TABLE = models.Instance.__table__
_INSTANCE_ROW_BY_UUID = {
    read_deleted: sa.select(_INSTANCE_TABLE).where(
        _INSTANCE_TABLE.c.uuid == sa.bindparam('uuid'),
        _read_deleted_clause(_INSTANCE_TABLE.c, read_deleted))
    for read_deleted in ('no', 'yes', 'only')}


@main_connection_reader
def instance_get_by_uuid(context, uuid: str) -> InstanceRecord:
    """The instance as a read-only :class:`InstanceRecord`.

    :raises InstanceNotFound: not in the context's cell (or deleted and
        the context does not read deleted rows).
    """
    row = context.connection.execute(
        _INSTANCE_ROW_BY_UUID[context.read_deleted], {'uuid': uuid}).first()
    if row is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return InstanceRecord(row._mapping)


_INSTANCE_FILTERS = frozenset(_INSTANCE_TABLE.columns.keys())


def _instance_filter_clauses(context, filters: dict) -> list:
    """WHERE clauses on the ``instances`` table's columns (Core, so they
    serve ORM and Core statements alike)."""
    filters = dict(filters or {})
    columns = _INSTANCE_TABLE.c
    clauses = []
    deleted = filters.pop('deleted', None)
    if deleted is None:
        clauses.append(_read_deleted_clause(columns, context.read_deleted))
    else:
        clauses.append(columns.deleted != 0 if deleted
                       else columns.deleted == 0)
    unknown = sorted(set(filters) - _INSTANCE_FILTERS)
    if unknown:
        raise exception.Invalid('Unknown instance filter(s): %s' %
                                ', '.join(unknown))
    for name, value in sorted(filters.items()):
        column = columns[name]
        if isinstance(value, (list, tuple, set, frozenset)):
            clauses.append(column.in_(list(value)))
        elif value is None:
            clauses.append(column.is_(None))
        else:
            clauses.append(column == value)
    return clauses


def instance_get_all_by_filters(
        context, filters: dict | None = None,
        sort_keys: Sequence[str] | None = None,
        sort_dirs: Sequence[str] | None = None,
        limit: int | None = None, marker: str | None = None, *,
        after: Sequence[Any] | None = None) -> list[models.Instance]:
    """One page of the context cell's instances, in a total order.

    ``filters`` match columns exactly (a list means any of); ``deleted``
    (bool) overrides the context's ``read_deleted``. The sort always ends
    with ``uuid`` so pages never overlap or skip rows, on one database or
    merged across cells. ``marker`` is the uuid of the last instance of the
    previous page (:exc:`MarkerNotFound` if this cell lacks it); ``after``
    is that instance's sort values instead, for callers that found the
    marker in another cell.
    """
    if getattr(context, 'db_connection', None) is None:
        # Raise UntargetedContext (when strict) naming this function, not
        # the private helper below that would open the transaction.
        get_context_manager(context, 'main', 'instance_get_all_by_filters')
    order = pagination.SortOrder.build(sort_keys, sort_dirs)
    if limit is not None and limit < 0:
        raise exception.Invalid('limit must not be negative, got %d' % limit)
    if marker is not None and after is None:
        return _instance_page_after_marker(context, filters, order, limit,
                                           marker)
    return _instance_page(context, filters, order, limit, after)


def instance_page_statement(context, filters: dict | None,
                            order: pagination.SortOrder,
                            limit: int | None = None,
                            after: Sequence[Any] | None = None, *,
                            dialect: str, columns: Sequence[Any] = ()):
    """The SELECT of one page of instances on a ``dialect`` database.

    Selects ``columns`` (Core columns of the ``instances`` table), or the
    ORM ``Instance`` when none are given; ``context`` only lends its
    ``read_deleted``. Built once, it can be run in every cell of that
    dialect (:func:`instance_page_rows`).
    """
    statement = sa.select(*(columns or (models.Instance,))).where(
        *_instance_filter_clauses(context, filters))
    if after is not None:
        statement = statement.where(order.after_clause(after))
    statement = statement.order_by(*order.order_by(dialect))
    if limit is not None:
        statement = statement.limit(limit)
    return statement


@main_connection_reader
def _instance_page(context, filters, order, limit, after
                   ) -> list[models.Instance]:
    """A page in one statement (each cell's part of a merged listing)."""
    statement = instance_page_statement(
        context, filters, order, limit, after,
        dialect=context.connection.dialect.name)
    session = context.transaction_ctx.session
    if session is not None:
        # Joined the caller's ORM transaction: its own objects.
        return list(session.execute(statement).scalars())
    with sa.orm.Session(bind=context.connection) as session:
        return list(session.execute(statement).scalars())


@main_reader
def _instance_page_after_marker(context, filters, order, limit, marker
                                ) -> list[models.Instance]:
    """The marker's sort values and the page after it: two statements, so
    one transaction, whose snapshot they share."""
    marker_row = context.session.execute(
        sa.select(models.Instance).where(models.Instance.uuid == marker)
    ).scalar_one_or_none()
    if marker_row is None:
        raise exception.MarkerNotFound(marker=marker)
    statement = instance_page_statement(
        context, filters, order, limit, order.values_of(marker_row),
        dialect=context.session.get_bind().dialect.name)
    return list(context.session.execute(statement).scalars())


@main_connection_reader
def instance_page_rows(context, statement_for: Callable[[str], Any]
                       ) -> list[sa.Row]:
    """Core rows of ``statement_for(dialect name)`` in the context's cell.

    For fan-out: the caller builds a page statement once per dialect (see
    :func:`instance_page_statement`) rather than once per cell, and gets
    plain rows, which cost a fraction of ORM objects.
    """
    dialect = context.connection.dialect.name
    return context.connection.execute(statement_for(dialect)).all()


# Counting every instance is what fan-out does most (once per cell per
# call), so that statement is built once per read_deleted value.
_COUNT_INSTANCES = {
    read_deleted: sa.select(sa.func.count(_INSTANCE_TABLE.c.id)).where(
        _read_deleted_clause(_INSTANCE_TABLE.c, read_deleted))
    for read_deleted in ('no', 'yes', 'only')}


@main_connection_reader
def instance_count(context, filters: dict | None = None) -> int:
    """How many instances of the context's cell match ``filters``."""
    if filters:
        statement = sa.select(sa.func.count(_INSTANCE_TABLE.c.id)).where(
            *_instance_filter_clauses(context, filters))
    else:
        statement = _COUNT_INSTANCES[context.read_deleted]
    return context.connection.execute(statement).scalar_one()


def _changed_instance(context, uuid: str, result) -> models.Instance:
    """The instance an UPDATE just changed, as stored now.

    :raises InstanceNotFound: the UPDATE matched no row.
    """
    if result.rowcount == 0:
        raise exception.InstanceNotFound(instance_id=uuid)
    instance = _instance_by_uuid(context, uuid, read_deleted='yes')
    context.session.refresh(instance)
    return instance


@main_writer
def instance_update(context, uuid: str, values: dict) -> models.Instance:
    """Update a live instance and return it as stored.

    The UPDATE runs first so a SQLite writer takes the write lock before it
    reads, rather than upgrading a read lock (which deadlocks under load).
    """
    values = _checked_values(models.Instance, values,
                             forbidden=('id', 'uuid'))
    values.setdefault('updated_at', timeutils.utcnow())
    result = context.session.execute(
        sa.update(models.Instance.__table__).where(
            models.Instance.uuid == uuid,
            _read_deleted_clause(models.Instance, context.read_deleted)
        ).values(**values))
    return _changed_instance(context, uuid, result)


@main_writer
def instance_destroy(context, uuid: str) -> models.Instance:
    """Soft-delete an instance (``deleted`` = its id) and return it."""
    table = models.Instance.__table__
    now = timeutils.utcnow()
    result = context.session.execute(
        sa.update(table).where(table.c.uuid == uuid, table.c.deleted == 0)
        .values(deleted=table.c.id, deleted_at=now, updated_at=now))
    return _changed_instance(context, uuid, result)


# -- compute nodes ---------------------------------------------------------

@main_writer
def compute_node_create(context, values: dict) -> models.ComputeNode:
    return _insert(context, models.ComputeNode, values,
                   lambda row: exception.Conflict(
                       'Compute node %s on host %s already exists.' % (
                           row.get('hypervisor_hostname'), row.get('host'))))


@main_reader
def compute_node_get_all(context) -> list[models.ComputeNode]:
    statement = sa.select(models.ComputeNode).where(
        _read_deleted_clause(models.ComputeNode, context.read_deleted)
    ).order_by(models.ComputeNode.id)
    return list(context.session.execute(statement).scalars())


@main_reader
def compute_node_get_all_by_host(context,
                                 host: str) -> list[models.ComputeNode]:
    """:raises ComputeHostNotFound: no live compute node on ``host``."""
    statement = sa.select(models.ComputeNode).where(
        models.ComputeNode.host == host,
        _read_deleted_clause(models.ComputeNode, context.read_deleted)
    ).order_by(models.ComputeNode.id)
    nodes = list(context.session.execute(statement).scalars())
    if not nodes:
        raise exception.ComputeHostNotFound(host=host)
    return nodes


@main_reader
def compute_node_get_all_unmapped(context) -> list[models.ComputeNode]:
    """Live compute nodes that host discovery has not mapped yet."""
    statement = sa.select(models.ComputeNode).where(
        models.ComputeNode.deleted == 0,
        sa.or_(models.ComputeNode.mapped == 0,
               models.ComputeNode.mapped.is_(None))
    ).order_by(models.ComputeNode.id)
    return list(context.session.execute(statement).scalars())


@main_writer
def compute_nodes_mark_mapped(context, node_ids: Sequence[int]) -> int:
    """Flag compute nodes as mapped; returns how many rows changed."""
    if not node_ids:
        return 0
    table = models.ComputeNode.__table__
    result = context.session.execute(
        sa.update(table).where(table.c.id.in_(list(node_ids)))
        .values(mapped=1, updated_at=timeutils.utcnow()))
    return result.rowcount


# -- services --------------------------------------------------------------

@main_writer
def service_create(context, values: dict) -> models.Service:
    return _insert(context, models.Service, values,
                   lambda row: exception.Conflict(
                       'Service %s on host %s already exists.' % (
                           row.get('binary'), row.get('host'))))


@main_reader
def service_get_all(context, disabled: bool | None = None
                    ) -> list[models.Service]:
    statement = sa.select(models.Service).where(
        _read_deleted_clause(models.Service, context.read_deleted))
    if disabled is not None:
        statement = statement.where(models.Service.disabled == disabled)
    return list(context.session.execute(
        statement.order_by(models.Service.id)).scalars())


@main_reader
def service_get_all_by_binary(context, binary: str,
                              include_disabled: bool = True
                              ) -> list[models.Service]:
    statement = sa.select(models.Service).where(
        models.Service.binary == binary,
        _read_deleted_clause(models.Service, context.read_deleted))
    if not include_disabled:
        statement = statement.where(models.Service.disabled == sa.false())
    return list(context.session.execute(
        statement.order_by(models.Service.id)).scalars())
