"""Tables of the API database: where every cell, host and instance lives.

Column names and types follow Nova's API database so that a database Nova
created can be adopted and read as it is.
"""

import sqlalchemy as sa
from sqlalchemy import orm

from nova_cells.db.sqlalchemy import model_base

__all__ = [
    'ApiBase',
    'CellMapping',
    'HostMapping',
    'InstanceMapping',
    'MapInstancesMarker',
    'MappingCacheGeneration',
]


class ApiBase(orm.DeclarativeBase, model_base.ModelMixin):
    metadata = model_base.new_metadata()


class CellMapping(ApiBase, model_base.TimestampMixin):
    """A cell: how to reach its main database and its message queue."""

    __tablename__ = 'cell_mappings'
    __table_args__ = (sa.UniqueConstraint('uuid'),)

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), nullable=False)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    transport_url: orm.Mapped[str] = orm.mapped_column(
        sa.Text, nullable=False)
    database_connection: orm.Mapped[str] = orm.mapped_column(
        sa.Text, nullable=False)
    disabled: orm.Mapped[bool | None] = orm.mapped_column(
        sa.Boolean, default=False, server_default=sa.false())


class InstanceMapping(ApiBase, model_base.TimestampMixin):
    """Which cell an instance lives in (none yet while it is scheduled)."""

    __tablename__ = 'instance_mappings'
    __table_args__ = (
        sa.UniqueConstraint('instance_uuid'),
        sa.Index(None, 'project_id'),
        sa.Index(None, 'user_id'),
        sa.Index(None, 'cell_id'),
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    instance_uuid: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), nullable=False)
    cell_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, sa.ForeignKey('cell_mappings.id'), nullable=True)
    project_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), nullable=False)
    user_id: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255), nullable=True)
    queued_for_delete: orm.Mapped[bool | None] = orm.mapped_column(
        sa.Boolean, default=False, server_default=sa.false())

    cell_mapping: orm.Mapped[CellMapping | None] = orm.relationship(
        CellMapping, lazy='raise')


class HostMapping(ApiBase, model_base.TimestampMixin):
    """Which cell a compute host belongs to."""

    __tablename__ = 'host_mappings'
    __table_args__ = (sa.UniqueConstraint('host'),)

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    cell_id: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.ForeignKey('cell_mappings.id'), nullable=False)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255), nullable=False)

    cell_mapping: orm.Mapped[CellMapping] = orm.relationship(
        CellMapping, lazy='raise')


class MapInstancesMarker(ApiBase, model_base.TimestampMixin):
    """Where ``map_instances`` stopped in a cell, so a rerun resumes there.

    One row per cell: the id of the last instance of that cell's
    ``instances`` table that a committed batch handled. Written in the same
    transaction as the batch's instance mappings, so it can never be ahead
    of or behind them. Deleted with its cell.
    """

    __tablename__ = 'map_instances_markers'
    __table_args__ = (sa.UniqueConstraint('cell_id'),)

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    cell_id: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, sa.ForeignKey('cell_mappings.id', ondelete='CASCADE'),
        nullable=False)
    last_instance_id: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False)


class MappingCacheGeneration(ApiBase):
    """A counter bumped whenever a cached mapping may have become wrong.

    One row (id 1). Every process caching mappings reads it at most once
    per ``[cells] mapping_cache_check_interval`` and drops its cache when
    it changed. A change that can make a cached entry wrong (a cell
    changed or deleted, an instance or host moved or unmapped) bumps it in
    the same transaction; creating mappings does not, so booting instances
    never contend on this row. Not a Nova table: nova_cells' own.
    """

    __tablename__ = 'mapping_cache_generation'

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True,
                                            autoincrement=False)
    generation: orm.Mapped[int] = orm.mapped_column(
        sa.BigInteger, nullable=False, default=0, server_default='0')
