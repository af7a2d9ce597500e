"""The part of Nova's main (cell) schema this project reads and writes.

A main database Nova created is stamped at this revision when adopted (see
nova_cells.db.legacy), so this revision creates nothing Nova's own schema
lacks: the columns this project uses, typed so that Nova's columns are
compatible with them, the primary keys and Nova's unique constraints. A
Nova database has many more tables, columns and indexes; they are Nova's,
and no revision of this line ever drops or renames them.

Frozen: never edit; write a new revision instead.

Revision ID: main_0001_nova_legacy
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = 'main_0001_nova_legacy'
down_revision = None
branch_labels = None
depends_on = None

_TABLE_OPTIONS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}


def _timestamps_and_soft_delete() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime),
            sa.Column('updated_at', sa.DateTime),
            sa.Column('deleted_at', sa.DateTime),
            sa.Column('deleted', sa.Integer)]


def _counter(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=nullable,
                     server_default='0')


def _flag(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(create_constraint=False),
                     server_default=sa.false())


def upgrade() -> None:
    op.create_table(
        'instances',
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('project_id', sa.String(255)),
        sa.Column('user_id', sa.String(255)),
        sa.Column('host', sa.String(255)),
        sa.Column('node', sa.String(255)),
        sa.Column('display_name', sa.String(255)),
        sa.Column('hostname', sa.String(255)),
        sa.Column('vm_state', sa.String(255)),
        sa.Column('task_state', sa.String(255)),
        sa.Column('power_state', sa.Integer),
        sa.Column('availability_zone', sa.String(255)),
        sa.Column('launched_at', sa.DateTime),
        sa.Column('terminated_at', sa.DateTime),
        *_timestamps_and_soft_delete(),
        sa.PrimaryKeyConstraint('id', name='pk_instances'),
        sa.UniqueConstraint('uuid', name='uniq_instances0uuid'),
        **_TABLE_OPTIONS)

    op.create_table(
        'compute_nodes',
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('uuid', sa.String(36)),
        sa.Column('host', sa.String(255)),
        sa.Column('hypervisor_hostname', sa.String(255)),
        sa.Column('hypervisor_type', sa.String(255)),
        _counter('vcpus'),
        _counter('memory_mb'),
        _counter('local_gb'),
        _counter('mapped', nullable=True),
        *_timestamps_and_soft_delete(),
        sa.PrimaryKeyConstraint('id', name='pk_compute_nodes'),
        sa.UniqueConstraint(
            'host', 'hypervisor_hostname', 'deleted',
            name='uniq_compute_nodes0host0hypervisor_hostname0deleted'),
        **_TABLE_OPTIONS)

    op.create_table(
        'services',
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('uuid', sa.String(36)),
        sa.Column('host', sa.String(255)),
        sa.Column('binary', sa.String(255)),
        sa.Column('topic', sa.String(255)),
        _counter('report_count'),
        _flag('disabled'),
        sa.Column('disabled_reason', sa.String(255)),
        _flag('forced_down'),
        _counter('version', nullable=True),
        sa.Column('last_seen_up', sa.DateTime),
        *_timestamps_and_soft_delete(),
        sa.PrimaryKeyConstraint('id', name='pk_services'),
        sa.UniqueConstraint('host', 'topic', 'deleted',
                            name='uniq_services0host0topic0deleted'),
        sa.UniqueConstraint('host', 'binary', 'deleted',
                            name='uniq_services0host0binary0deleted'),
        **_TABLE_OPTIONS)
