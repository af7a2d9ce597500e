"""An index on instances.display_name, for listings sorted by name.

A listing sorted by display name (merged across cells or not) reads each
cell's first rows in that order; without an index every cell sorts all of
its instances for every page. Created only when the table has no index
on that column yet (Nova's schema has none; an operator may have added
one under another name, which serves as well).

Frozen: never edit; write a new revision instead.

Revision ID: main_0003_display_name_index
Revises: main_0002_project_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = 'main_0003_display_name_index'
down_revision = 'main_0002_project_indexes'
branch_labels = None
depends_on = None

_NAME = 'ix_instances_display_name'
_COLUMNS = ('display_name',)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    indexed = {tuple(index['column_names'])
               for index in inspector.get_indexes('instances')}
    if _COLUMNS not in indexed:
        op.create_index(_NAME, 'instances', list(_COLUMNS))
