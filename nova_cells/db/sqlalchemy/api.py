"""The main-database DB API: Nova's functions, routed per call.

Each function takes the context first and runs in the database
:func:`~nova_cells.db.sqlalchemy.routing.get_context_manager` picks for
it: the cell the context is targeted at, else the local ``[database]``.
Results are safe to read after the transaction: ORM objects
(``expire_on_commit`` is off), or, from the hot single-row reads, a
read-only :class:`~nova_cells.db.sqlalchemy.records.Record` of the row.

This module is also the one Nova-style code imports (``from
nova_cells.db.sqlalchemy import api as db``): it offers the routing
names of :mod:`~nova_cells.db.sqlalchemy.routing` and the records of
:mod:`~nova_cells.db.sqlalchemy.records` too, the same objects.
"""

import uuid as uuid_lib
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from oslo_db import exception as db_exception
from oslo_utils import timeutils

from nova_cells import exception
from nova_cells.db.sqlalchemy import models
from nova_cells.db.sqlalchemy import pagination
from nova_cells.db.sqlalchemy.records import InstanceRecord
from nova_cells.db.sqlalchemy.records import Record
from nova_cells.db.sqlalchemy.routing import DATABASES
from nova_cells.db.sqlalchemy.routing import api_connection_reader
from nova_cells.db.sqlalchemy.routing import api_reader
from nova_cells.db.sqlalchemy.routing import api_writer
from nova_cells.db.sqlalchemy.routing import get_context_manager
from nova_cells.db.sqlalchemy.routing import get_engine
from nova_cells.db.sqlalchemy.routing import get_session
from nova_cells.db.sqlalchemy.routing import main_async_reader
from nova_cells.db.sqlalchemy.routing import main_connection_reader
from nova_cells.db.sqlalchemy.routing import main_reader
from nova_cells.db.sqlalchemy.routing import main_writer
from nova_cells.db.sqlalchemy.routing import pick_context_manager_reader
from nova_cells.db.sqlalchemy.routing import (
    pick_context_manager_reader_allow_async,
)
from nova_cells.db.sqlalchemy.routing import pick_context_manager_writer
from nova_cells.db.sqlalchemy.statements import INSTANCE_BY_UUID
from nova_cells.db.sqlalchemy.statements import INSTANCE_ROW_BY_UUID
from nova_cells.db.sqlalchemy.statements import instance_count_statement
from nova_cells.db.sqlalchemy.statements import instance_page_statement
from nova_cells.db.sqlalchemy.statements import read_deleted_clause

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
    'compute_nodes_mark_unmapped',
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
    'instance_rows_after',
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


def _instance_by_uuid(context, uuid: str,
                      read_deleted: str | None = None) -> models.Instance:
    statement = INSTANCE_BY_UUID[read_deleted or context.read_deleted]
    instance = context.session.execute(
        statement, {'uuid': uuid}).scalar_one_or_none()
    if instance is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return instance


@main_connection_reader
def instance_get_by_uuid(context, uuid: str) -> InstanceRecord:
    """The instance as a read-only :class:`InstanceRecord`.

    :raises InstanceNotFound: not in the context's cell (or deleted and
        the context does not read deleted rows).
    """
    row = context.connection.execute(
        INSTANCE_ROW_BY_UUID[context.read_deleted], {'uuid': uuid}).first()
    if row is None:
        raise exception.InstanceNotFound(instance_id=uuid)
    return InstanceRecord(row._mapping)


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


@main_connection_reader
def instance_count(context, filters: dict | None = None) -> int:
    """How many instances of the context's cell match ``filters``."""
    return context.connection.execute(
        instance_count_statement(context, filters)).scalar_one()


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
            read_deleted_clause(models.Instance, context.read_deleted)
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
        read_deleted_clause(models.ComputeNode, context.read_deleted)
    ).order_by(models.ComputeNode.id)
    return list(context.session.execute(statement).scalars())


@main_reader
def compute_node_get_all_by_host(context,
                                 host: str) -> list[models.ComputeNode]:
    """:raises ComputeHostNotFound: no live compute node on ``host``."""
    statement = sa.select(models.ComputeNode).where(
        models.ComputeNode.host == host,
        read_deleted_clause(models.ComputeNode, context.read_deleted)
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
        read_deleted_clause(models.Service, context.read_deleted))
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
        read_deleted_clause(models.Service, context.read_deleted))
    if not include_disabled:
        statement = statement.where(models.Service.disabled == sa.false())
    return list(context.session.execute(
        statement.order_by(models.Service.id)).scalars())


# -- what the operator commands need (nova_cells.cells_admin) ---------------

@main_writer
def compute_nodes_mark_unmapped(context, host: str | None = None) -> int:
    """Clear ``mapped`` on the cell's compute nodes (of one host), so host
    discovery finds them again; returns how many rows changed."""
    table = models.ComputeNode.__table__
    statement = sa.update(table).where(table.c.mapped != 0).values(
        mapped=0, updated_at=timeutils.utcnow())
    if host is not None:
        statement = statement.where(table.c.host == host)
    return context.session.execute(statement).rowcount


#: What ``map_instances`` reads of each instance, in this order.
_INSTANCE_MAPPING_COLUMNS = tuple(
    models.Instance.__table__.c[name] for name in (
        'id', 'uuid', 'project_id', 'user_id', 'deleted', 'vm_state'))


@main_connection_reader
def instance_rows_after(context, after_id: int, limit: int) -> list[sa.Row]:
    """Up to ``limit`` instances (deleted ones too) with an id above
    ``after_id``, by id: rows of (id, uuid, project_id, user_id, deleted,
    vm_state), plain tuples for a walk over a whole cell."""
    instance_id = _INSTANCE_MAPPING_COLUMNS[0]
    return context.connection.execute(
        sa.select(*_INSTANCE_MAPPING_COLUMNS).where(
            instance_id > after_id).order_by(instance_id).limit(limit)).all()
