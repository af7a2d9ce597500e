"""The SQL the main-database functions run, built without a database.

Soft-delete clauses, the ``instances`` filters, and the statements the hot
reads use, built once per ``read_deleted`` value at import: building a
select costs more than SQLAlchemy's compiled cache saves. Separate from
:mod:`nova_cells.db.sqlalchemy.api`, which runs them in transactions,
because a merged listing (:mod:`nova_cells.instance_list`) builds one page
statement per dialect and runs it in every cell.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from nova_cells import exception
from nova_cells.db.sqlalchemy import models
from nova_cells.db.sqlalchemy import pagination

__all__ = [
    'INSTANCE_BY_UUID',
    'INSTANCE_ROW_BY_UUID',
    'instance_count_statement',
    'instance_filter_clauses',
    'instance_page_statement',
    'read_deleted_clause',
]

_READ_DELETED = ('no', 'yes', 'only')
_INSTANCE_TABLE = models.Instance.__table__
_INSTANCE_FILTERS = frozenset(_INSTANCE_TABLE.columns.keys())


def read_deleted_clause(model, read_deleted: str):
    """``model`` is a mapped class, or a table's ``.c`` for Core."""
    if read_deleted == 'no':
        return model.deleted == 0
    if read_deleted == 'only':
        return model.deleted != 0
    return sa.true()


#: The writers' re-read of an instance (ORM), by ``read_deleted``.
INSTANCE_BY_UUID = {
    read_deleted: sa.select(models.Instance).where(
        models.Instance.uuid == sa.bindparam('uuid'),
        read_deleted_clause(models.Instance, read_deleted))
    for read_deleted in _READ_DELETED}

#: The hottest read, in Core (table columns, so no ORM compile plugin),
#: by ``read_deleted``.
INSTANCE_ROW_BY_UUID = {
    read_deleted: sa.select(_INSTANCE_TABLE).where(
        _INSTANCE_TABLE.c.uuid == sa.bindparam('uuid'),
        read_deleted_clause(_INSTANCE_TABLE.c, read_deleted))
    for read_deleted in _READ_DELETED}

#: Counting every instance is what fan-out does most (once per cell per
#: call), by ``read_deleted``.
_COUNT_INSTANCES = {
    read_deleted: sa.select(sa.func.count(_INSTANCE_TABLE.c.id)).where(
        read_deleted_clause(_INSTANCE_TABLE.c, read_deleted))
    for read_deleted in _READ_DELETED}


def instance_filter_clauses(context, filters: dict | None) -> list:
    """WHERE clauses on the ``instances`` table's columns (Core, so they
    serve ORM and Core statements alike)."""
    filters = dict(filters or {})
    columns = _INSTANCE_TABLE.c
    clauses = []
    deleted = filters.pop('deleted', None)
    if deleted is None:
        clauses.append(read_deleted_clause(columns, context.read_deleted))
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


def instance_count_statement(context, filters: dict | None):
    """How many instances match ``filters`` (the prebuilt count when
    there are none)."""
    if not filters:
        return _COUNT_INSTANCES[context.read_deleted]
    return sa.select(sa.func.count(_INSTANCE_TABLE.c.id)).where(
        *instance_filter_clauses(context, filters))


def instance_page_statement(context, filters: dict | None,
                            order: pagination.SortOrder,
                            limit: int | None = None,
                            after: Sequence[Any] | None = None, *,
                            dialect: str, columns: Sequence[Any] = ()):
    """The SELECT of one page of instances on a ``dialect`` database.

    Selects ``columns`` (Core columns of the ``instances`` table), or the
    ORM ``Instance`` when none are given; ``context`` only lends its
    ``read_deleted``. Built once, it can be run in every cell of that
    dialect (:func:`nova_cells.db.sqlalchemy.api.instance_page_rows`).
    """
    statement = sa.select(*(columns or (models.Instance,))).where(
        *instance_filter_clauses(context, filters))
    if after is not None:
        statement = statement.where(order.after_clause(after))
    statement = statement.order_by(*order.order_by(dialect))
    if limit is not None:
        statement = statement.limit(limit)
    return statement
