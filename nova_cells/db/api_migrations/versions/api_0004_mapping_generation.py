"""Add mapping_cache_generation: the mapping cache's coherence counter.

One row, bumped in the same transaction as any change that can make a
mapping cached by some process wrong; every process reads it at most once
per ``[cells] mapping_cache_check_interval`` (design D10).

Frozen: never edit; write a new revision instead.

Revision ID: api_0004_mapping_generation
Revises: api_0003_map_instances_markers
"""

import sqlalchemy as sa
from alembic import op

revision = 'api_0004_mapping_generation'
down_revision = 'api_0003_map_instances_markers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'mapping_cache_generation',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('generation', sa.BigInteger(), server_default='0',
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_mapping_cache_generation'),
    )
    op.bulk_insert(table, [{'id': 1, 'generation': 0}])
