"""What the API and main model modules share: naming and common columns.

Every constraint and index is named by one convention so migrations can
refer to them on every backend, and an operator reading a schema can tell
what an index is for from its name:

* unique constraints ``uniq_<table>0<column>[0<column>...]`` (Nova's own
  spelling, so databases Nova created need no rename);
* indexes ``ix_<table>_<column>[_<column>...]``;
* foreign keys ``fk_<table>_<column>_<referred table>``;
* primary keys ``pk_<table>`` (MySQL always calls them ``PRIMARY``).

No plain index is ever declared on a column set that already has a unique
constraint: the constraint's own index serves the same lookups.
"""

import datetime

import sqlalchemy as sa
from oslo_utils import timeutils
from sqlalchemy import orm

__all__ = [
    'ModelMixin',
    'NAMING_CONVENTION',
    'SoftDeleteMixin',
    'TimestampMixin',
    'new_metadata',
]


def _columns_joined_by_zero(constraint, _table) -> str:
    return '0'.join(column.name for column in constraint.columns)


NAMING_CONVENTION = {
    'columns_0': _columns_joined_by_zero,
    'pk': 'pk_%(table_name)s',
    'uq': 'uniq_%(table_name)s0%(columns_0)s',
    'ix': 'ix_%(table_name)s_%(column_0_N_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
}


def new_metadata() -> sa.MetaData:
    return sa.MetaData(naming_convention=NAMING_CONVENTION)


def _utcnow() -> datetime.datetime:
    # Naive UTC, as Nova stores it, on every backend.
    return timeutils.utcnow()


class TimestampMixin:
    created_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime, default=_utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime, onupdate=_utcnow)


class SoftDeleteMixin:
    """Nova's soft delete: ``deleted`` is 0 while live, the row id after."""

    deleted_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime)
    deleted: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, default=0)


class ModelMixin:
    """Dict-like access, so DB rows read like Nova's models."""

    def __getitem__(self, key: str):
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default)

    def update(self, values: dict) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self) -> dict:
        return {column.key: getattr(self, column.key)
                for column in sa.inspect(self).mapper.column_attrs}
