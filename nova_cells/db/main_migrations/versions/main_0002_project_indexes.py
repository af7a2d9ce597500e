"""The indexes and unique constraints this project's queries rely on.

Each is created only when the table has nothing equivalent yet: a database
this project created gets them all; one Nova created usually has Nova's own
(``instances_project_id_deleted_idx``, the unique ``compute_nodes_uuid_idx``,
...) under Nova's names, and those serve the same queries. Nova's indexes
are left as they are: Nova's own code and migrations still rely on them,
and a duplicate would only slow every write.

Frozen: never edit; write a new revision instead.

Revision ID: main_0002_project_indexes
Revises: main_0001_nova_legacy
"""

import sqlalchemy as sa
from alembic import op

revision = 'main_0002_project_indexes'
down_revision = 'main_0001_nova_legacy'
branch_labels = None
depends_on = None

_UNIQUE_CONSTRAINTS = (
    ('compute_nodes', 'uniq_compute_nodes0uuid', ('uuid',)),
    ('services', 'uniq_services0uuid', ('uuid',)),
)

_INDEXES = (
    ('instances', 'ix_instances_project_id_deleted',
     ('project_id', 'deleted')),
    ('instances', 'ix_instances_host_node_deleted',
     ('host', 'node', 'deleted')),
    ('instances', 'ix_instances_created_at', ('created_at',)),
)


def _indexed_column_lists(inspector, table: str) -> set[tuple]:
    """Column lists, in order, that an index or unique constraint covers."""
    covered = {tuple(index['column_names'])
               for index in inspector.get_indexes(table)}
    covered.update(tuple(constraint['column_names']) for constraint in
                   inspector.get_unique_constraints(table))
    return covered


def _unique_column_sets(inspector, table: str) -> set[frozenset]:
    unique = {frozenset(constraint['column_names']) for constraint in
              inspector.get_unique_constraints(table)}
    unique.update(frozenset(index['column_names'])
                  for index in inspector.get_indexes(table)
                  if index.get('unique'))
    return unique


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, name, columns in _UNIQUE_CONSTRAINTS:
        if frozenset(columns) in _unique_column_sets(inspector, table):
            continue
        with op.batch_alter_table(table) as batch:
            batch.create_unique_constraint(name, list(columns))
    for table, name, columns in _INDEXES:
        if tuple(columns) in _indexed_column_lists(inspector, table):
            continue
        op.create_index(name, table, list(columns))
