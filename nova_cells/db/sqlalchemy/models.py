"""Tables of a cell's main database: the subset of Nova's that nova_cells
reads and writes (instances, compute nodes, services).

Columns keep Nova's names and types so that a main database Nova created is
routable as it is. Soft-deleted rows keep ``deleted`` set to their id, as in
Nova, which is why unique constraints include ``deleted``.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from nova_cells.db.sqlalchemy import model_base

__all__ = [
    'ComputeNode',
    'Instance',
    'MainBase',
    'Service',
]


class MainBase(orm.DeclarativeBase, model_base.ModelMixin):
    metadata = model_base.new_metadata()


class Instance(MainBase, model_base.TimestampMixin,
               model_base.SoftDeleteMixin):
    __tablename__ = 'instances'
    __table_args__ = (
        sa.UniqueConstraint('uuid'),
        sa.Index(None, 'project_id', 'deleted'),
        sa.Index(None, 'host', 'node', 'deleted'),
        sa.Index(None, 'created_at'),
        sa.Index(None, 'display_name'),
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), nullable=False)
    project_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    node: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    display_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    hostname: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    vm_state: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    task_state: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    power_state: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    launched_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime)
    terminated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime)


class ComputeNode(MainBase, model_base.TimestampMixin,
                  model_base.SoftDeleteMixin):
    __tablename__ = 'compute_nodes'
    __table_args__ = (
        sa.UniqueConstraint('uuid'),
        sa.UniqueConstraint('host', 'hypervisor_hostname', 'deleted'),
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    hypervisor_hostname: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    hypervisor_type: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    vcpus: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False, default=0, server_default='0')
    memory_mb: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False, default=0, server_default='0')
    local_gb: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False, default=0, server_default='0')
    # Nova's flag for "discover_hosts has created a host mapping for me".
    mapped: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, default=0, server_default='0')


class Service(MainBase, model_base.TimestampMixin,
              model_base.SoftDeleteMixin):
    __tablename__ = 'services'
    __table_args__ = (
        sa.UniqueConstraint('uuid'),
        sa.UniqueConstraint('host', 'topic', 'deleted'),
        sa.UniqueConstraint('host', 'binary', 'deleted'),
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    binary: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    topic: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    report_count: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False, default=0, server_default='0')
    disabled: orm.Mapped[bool | None] = orm.mapped_column(
        sa.Boolean, default=False, server_default=sa.false())
    disabled_reason: orm.Mapped[str | None] = orm.mapped_column(
        sa.String(255))
    forced_down: orm.Mapped[bool | None] = orm.mapped_column(
        sa.Boolean, default=False, server_default=sa.false())
    version: orm.Mapped[int | None] = orm.mapped_column(
        sa.Integer, default=0, server_default='0')
    last_seen_up: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime)
