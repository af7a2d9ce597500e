"""Add map_instances_markers: the resume point of ``map_instances``.

Nova keeps it as a fake instance mapping (project ``INSTANCE_MIGRATION_
MARKER``, a uuid with its dashes replaced by spaces); here it is a row per
cell holding the id of the last instance handled, written in the same
transaction as the mappings it covers. Deleting a cell deletes its row.

Frozen: never edit; write a new revision instead.

Revision ID: api_0003_map_instances_markers
Revises: api_0002_naming_convention
"""

import sqlalchemy as sa
from alembic import op

revision = 'api_0003_map_instances_markers'
down_revision = 'api_0002_naming_convention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'map_instances_markers',
        sa.Column('created_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cell_id', sa.Integer(), nullable=False),
        sa.Column('last_instance_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['cell_id'], ['cell_mappings.id'], ondelete='CASCADE',
            name='fk_map_instances_markers_cell_id_cell_mappings'),
        sa.PrimaryKeyConstraint('id', name='pk_map_instances_markers'),
        sa.UniqueConstraint('cell_id',
                            name='uniq_map_instances_markers0cell_id'),
    )
