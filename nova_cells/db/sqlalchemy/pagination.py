"""Keyset pagination over instances, identical on every backend.

A :class:`SortOrder` is the caller's sort keys and directions plus ``uuid``
as the last key, so the order is total and the same in every cell: pages
neither overlap nor skip rows, and pages of many cells merge into exactly
the order one database holding all rows would give.

NULL placement differs by backend (SQLite and MySQL put NULLs first when
ascending, PostgreSQL last). Here NULL is always the *smallest* value:
first ascending, last descending. PostgreSQL is told so explicitly; the
others already behave that way. :meth:`SortOrder.sort_key` gives Python the
same order, for merging pages from several cells.

Strings compare by Unicode codepoint everywhere (:class:`_ByCodepoint`),
as Python compares them: MySQL's default collations fold case and ignore
trailing spaces, and a PostgreSQL database's locale has its own order, so a
cell's page would otherwise come back in an order the merge cannot follow.
"""

import dataclasses
import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions

from nova_cells import exception
from nova_cells.db.sqlalchemy import models

__all__ = [
    'DEFAULT_SORT_DIR',
    'DEFAULT_SORT_KEYS',
    'SORTABLE_KEYS',
    'SortOrder',
    'TIE_BREAKER',
]

DEFAULT_SORT_KEYS = ('created_at',)
DEFAULT_SORT_DIR = 'desc'
TIE_BREAKER = 'uuid'
SORTABLE_KEYS = frozenset(models.Instance.__table__.columns.keys())


@dataclasses.dataclass(frozen=True)
class SortOrder:
    keys: tuple[str, ...]
    dirs: tuple[str, ...]

    @classmethod
    def build(cls, sort_keys: Sequence[str] | None = None,
              sort_dirs: Sequence[str] | None = None) -> 'SortOrder':
        """Validate and complete a sort; unknown keys are refused.

        Missing directions repeat the last one given (default ``desc``),
        and ``uuid`` is appended when absent.
        """
        keys = list(sort_keys or DEFAULT_SORT_KEYS)
        dirs = [d.lower() for d in (sort_dirs or [])]
        for key in keys:
            if key not in SORTABLE_KEYS:
                raise exception.InvalidSortKey(
                    key=key, known=', '.join(sorted(SORTABLE_KEYS)))
        for direction in dirs:
            if direction not in ('asc', 'desc'):
                raise exception.InvalidSortDirection(direction=direction)
        if len(dirs) > len(keys):
            raise exception.Invalid('More sort directions than sort keys.')
        fill = dirs[-1] if dirs else DEFAULT_SORT_DIR
        dirs += [fill] * (len(keys) - len(dirs))
        if TIE_BREAKER not in keys:
            keys.append(TIE_BREAKER)
            dirs.append(dirs[-1])
        return cls(tuple(keys), tuple(dirs))

    def _columns(self):
        table = models.Instance.__table__
        return [(_comparable(table.c[key]), direction)
                for key, direction in zip(self.keys, self.dirs, strict=True)]

    def order_by(self, dialect_name: str) -> list:
        clauses = []
        for column, direction in self._columns():
            clause = column.asc() if direction == 'asc' else column.desc()
            if dialect_name == 'postgresql':
                clause = (clause.nulls_first() if direction == 'asc'
                          else clause.nulls_last())
            clauses.append(clause)
        return clauses

    def values_of(self, row: Any) -> tuple:
        """The sort values of an instance row, in key order."""
        return tuple(getattr(row, key) for key in self.keys)

    def after_clause(self, values: Sequence[Any]):
        """Rows strictly after the position ``values`` in this order."""
        if len(values) != len(self.keys):
            raise exception.Invalid(
                'Expected %d marker values, got %d' % (len(self.keys),
                                                       len(values)))
        alternatives = []
        equal_so_far = []
        pairs = zip(self._columns(), values, strict=True)
        for (column, direction), value in pairs:
            alternatives.append(sa.and_(*equal_so_far,
                                        _after(column, direction, value)))
            equal_so_far.append(column.is_(None) if value is None
                                else column == value)
        return sa.or_(*alternatives)

    def sort_key(self, row: Any):
        """A Python key giving rows this order (for merging cells)."""
        return tuple(
            _Ordered(getattr(row, key), direction == 'desc')
            for key, direction in zip(self.keys, self.dirs, strict=True))

    def merge_key(self) -> tuple[Any, bool]:
        """``(key, reverse)`` for :func:`heapq.merge` to give rows this
        order: when every key runs the same way (the usual case), plain
        tuples Python compares natively with ``reverse`` for descending,
        about a third of the cost of :meth:`sort_key`'s objects, which
        serve mixed directions."""
        if len(set(self.dirs)) > 1:
            return self.sort_key, False
        values_of = operator.attrgetter(*self.keys)
        if len(self.keys) == 1:
            single = values_of

            def values_of(row: Any) -> tuple:
                return (single(row),)

        def key(row: Any) -> tuple:
            # NULL is the smallest value, as in the databases' order.
            return tuple((0,) if value is None else (1, value)
                         for value in values_of(row))
        return key, self.dirs[0] == 'desc'


class _ByCodepoint(functions.FunctionElement):
    """A string column ordered and compared by Unicode codepoint.

    SQLite already compares UTF-8 bytes, which is codepoint order. MySQL
    and MariaDB compare the bytes of a ``BINARY`` cast (their ``_bin``
    collations still pad spaces, and their names differ by server);
    PostgreSQL uses the ``"C"`` collation. Assumes UTF-8 columns, as
    Nova's schema has.
    """

    name = 'by_codepoint'
    inherit_cache = True
    type = sa.String()


@compiles(_ByCodepoint)
def _by_codepoint_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_ByCodepoint, 'mysql')
@compiles(_ByCodepoint, 'mariadb')
def _by_codepoint_mysql(element, compiler, **kw):
    return 'CAST(%s AS BINARY)' % compiler.process(element.clauses, **kw)


@compiles(_ByCodepoint, 'postgresql')
def _by_codepoint_postgresql(element, compiler, **kw):
    return '(%s COLLATE "C")' % compiler.process(element.clauses, **kw)


def _comparable(column):
    if isinstance(column.type, sa.String):
        return _ByCodepoint(column)
    return column


def _after(column, direction: str, value: Any):
    if direction == 'asc':
        return column.is_not(None) if value is None else column > value
    if value is None:
        return sa.false()  # NULLs come last when descending
    return sa.or_(column < value, column.is_(None))


class _Ordered:
    """One sort value with the database's order: NULL smallest, and
    reversed for a descending key."""

    __slots__ = ('value', 'descending')

    def __init__(self, value: Any, descending: bool):
        self.value = value
        self.descending = descending

    def _rank(self):
        return (0, 0) if self.value is None else (1, self.value)

    def __eq__(self, other) -> bool:
        return self.value == other.value

    def __lt__(self, other) -> bool:
        mine, theirs = self._rank(), other._rank()
        if mine[0] != theirs[0]:
            less = mine[0] < theirs[0]
        else:
            less = mine[0] == 1 and mine[1] < theirs[1]
        if self.descending:
            return not less and not self == other
        return less
