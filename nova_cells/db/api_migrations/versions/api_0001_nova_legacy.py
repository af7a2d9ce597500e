"""Nova's legacy mapping tables, as its sqlalchemy-migrate era left them.

A database Nova created is stamped at this revision when adopted (see
nova_cells.db.legacy), so this revision builds exactly that layout: Nova's
column types and nullability, its plain indexes (including those that
duplicate a unique constraint) and its foreign keys, named as PostgreSQL
named them. The next revision turns it into this project's layout.

Frozen: never edit; write a new revision instead.

Revision ID: api_0001_nova_legacy
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = 'api_0001_nova_legacy'
down_revision = None
branch_labels = None
depends_on = None

_TABLE_OPTIONS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}


def _timestamps() -> list[sa.Column]:
    return [sa.Column('created_at', sa.DateTime),
            sa.Column('updated_at', sa.DateTime)]


def upgrade() -> None:
    op.create_table(
        'cell_mappings',
        *_timestamps(),
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('uuid', sa.String(36), nullable=False),
        sa.Column('name', sa.String(255)),
        sa.Column('transport_url', sa.Text),
        sa.Column('database_connection', sa.Text),
        sa.Column('disabled', sa.Boolean(create_constraint=False)),
        sa.PrimaryKeyConstraint('id', name='cell_mappings_pkey'),
        sa.UniqueConstraint('uuid', name='uniq_cell_mappings0uuid'),
        sa.Index('uuid_idx', 'uuid'),
        **_TABLE_OPTIONS)

    op.create_table(
        'host_mappings',
        *_timestamps(),
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('cell_id', sa.Integer, nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint('id', name='host_mappings_pkey'),
        sa.UniqueConstraint('host', name='uniq_host_mappings0host'),
        sa.ForeignKeyConstraint(['cell_id'], ['cell_mappings.id'],
                                name='host_mappings_cell_id_fkey'),
        sa.Index('host_idx', 'host'),
        **_TABLE_OPTIONS)

    op.create_table(
        'instance_mappings',
        *_timestamps(),
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('instance_uuid', sa.String(36), nullable=False),
        sa.Column('cell_id', sa.Integer, nullable=True),
        sa.Column('project_id', sa.String(255), nullable=False),
        sa.Column('queued_for_delete',
                  sa.Boolean(create_constraint=False)),
        sa.Column('user_id', sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint('id', name='instance_mappings_pkey'),
        sa.UniqueConstraint('instance_uuid',
                            name='uniq_instance_mappings0instance_uuid'),
        sa.ForeignKeyConstraint(['cell_id'], ['cell_mappings.id'],
                                name='instance_mappings_cell_id_fkey'),
        sa.Index('instance_uuid_idx', 'instance_uuid'),
        sa.Index('project_id_idx', 'project_id'),
        sa.Index('instance_mappings_user_id_project_id_idx', 'user_id',
                 'project_id'),
        **_TABLE_OPTIONS)
