"""Rows of a mapping table read and written together with their cell.

InstanceMapping and HostMapping both store a ``cell_id`` and are always
loaded with their cell in the same statement. This module is that shared
part, so each object module keeps only what differs: its look-ups and the
exceptions a duplicate or a missing row raise.
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from oslo_db import exception as db_exception

from nova_cells import exception
from nova_cells.db.sqlalchemy import api_models

__all__ = [
    'ErrorFactory',
    'JOINED_PREFIX',
    'RowsWithCell',
    'joined_columns',
    'pop_joined_row',
]

ErrorFactory = Callable[[], Exception]
_CELLS = api_models.CellMapping.__table__
#: Label prefix of a cell's columns joined onto another mapping's row.
JOINED_PREFIX = 'cell_mapping_'


def joined_columns() -> list:
    """The cell's columns, labelled to sit beside another table's."""
    return [column.label(JOINED_PREFIX + column.name)
            for column in _CELLS.columns]


def pop_joined_row(values: dict) -> dict | None:
    """Remove the joined cell's columns from ``values`` and return them
    as the cell's own row (None when the outer join found no cell)."""
    cell = {name: values.pop(JOINED_PREFIX + name)
            for name in _CELLS.columns.keys()}
    return cell if cell['id'] is not None else None


class RowsWithCell:
    """Statements over ``table`` joined to ``cell_mappings``.

    ``cell_optional`` makes the join outer, for mappings that may have no
    cell yet (an instance still being scheduled).
    """

    def __init__(self, table: sa.Table, *, cell_optional: bool):
        join = table.outerjoin if cell_optional else table.join
        self.table = table
        #: The mapping's columns and its cell's (prefixed), in one select.
        self.statement = sa.select(table, *joined_columns()).select_from(
            join(_CELLS, table.c.cell_id == _CELLS.c.id))

    @staticmethod
    def as_db_row(row: Any) -> dict:
        """A joined result row as the mapping's values, its cell nested."""
        values = dict(row._mapping)
        values['cell_mapping'] = pop_joined_row(values)
        return values

    def first(self, connection: Any, statement: Any, parameters: dict,
              not_found: ErrorFactory) -> dict:
        """The first row ``statement`` (one of this table's joined
        selects) reads, with its cell.

        :raises: ``not_found()`` when it reads none.
        """
        row = connection.execute(statement, parameters).first()
        if row is None:
            raise not_found()
        return self.as_db_row(row)

    def select(self, db: Any, *where: Any,
               limit: int | None = None) -> list[dict]:
        """Rows with their cell, read on ``db``: a reader's Core
        connection or a writer's session."""
        statement = self.statement.where(*where).order_by(self.table.c.id)
        if limit is not None:
            statement = statement.limit(limit)
        return [self.as_db_row(row) for row in db.execute(statement)]

    def select_one(self, db: Any, where: Any) -> dict | None:
        rows = self.select(db, where)
        return rows[0] if rows else None

    def _write(self, session: Any, statement: Any, updates: dict,
               duplicate: ErrorFactory) -> Any:
        try:
            return session.execute(statement)
        except db_exception.DBDuplicateEntry:
            raise duplicate() from None
        except db_exception.DBReferenceError:
            raise exception.CellMappingNotFound(
                uuid='with id %s' % updates.get('cell_id')) from None

    def insert(self, session: Any, updates: dict,
               duplicate: ErrorFactory) -> dict:
        """Insert one row and return it with its cell.

        :raises: ``duplicate()`` for a unique clash; CellMappingNotFound
            when ``cell_id`` names no cell.
        """
        result = self._write(session, sa.insert(self.table).values(**updates),
                             updates, duplicate)
        return self.select_one(
            session, self.table.c.id == result.inserted_primary_key[0])

    def update(self, session: Any, where: Any, updates: dict,
               duplicate: ErrorFactory, not_found: ErrorFactory) -> dict:
        """Apply ``updates`` (if any) to the row ``where`` names and return
        it with its cell.

        :raises: ``not_found()`` when no row matches; ``duplicate()`` and
            CellMappingNotFound as :meth:`insert`.
        """
        if updates:
            result = self._write(
                session, sa.update(self.table).where(where).values(**updates),
                updates, duplicate)
            if result.rowcount == 0:
                raise not_found()
        row = self.select_one(session, where)
        if row is None:
            raise not_found()
        return row
