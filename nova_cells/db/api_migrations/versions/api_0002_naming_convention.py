"""Nova's legacy mapping tables become this project's layout.

* Plain indexes that duplicate a unique constraint go (``uuid_idx``,
  ``host_idx``, ``instance_uuid_idx``): the constraint's index serves the
  same lookups, and every write paid for both.
* Indexes and foreign keys take the names of the naming convention in
  ``model_base``; ``instance_mappings`` gains single-column indexes on
  ``user_id`` and ``cell_id`` in place of Nova's ``(user_id, project_id)``.
* ``transport_url`` and ``database_connection`` become NOT NULL (a cell
  without them cannot be reached; adoption refuses a database holding such
  rows), and the two boolean flags default to false in the database too.

It runs on databases this project created and on databases Nova created
(adopted at the previous revision), so it reads what is there instead of
assuming names: Nova's foreign keys are unnamed, and each backend named
them its own way (``*_ibfk_1`` on MySQL, ``*_fkey`` on PostgreSQL, none on
SQLite). No column changes type and no row is touched.

On a database Nova's own alembic line manages (one adopted with Nova's
revision in ``alembic_version``), it changes nothing: Nova still migrates
those tables, and its revisions expect its own names.

Frozen: never edit; write a new revision instead.

Revision ID: api_0002_naming_convention
Revises: api_0001_nova_legacy
"""

import sqlalchemy as sa
from alembic import op

from nova_cells.db import migration

revision = 'api_0002_naming_convention'
down_revision = 'api_0001_nova_legacy'
branch_labels = None
depends_on = None

# Only the constraint kinds this revision may meet unnamed on SQLite.
_NAMING_CONVENTION = {
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}

_LEGACY_INDEXES = {
    'cell_mappings': ('uuid_idx',),
    'host_mappings': ('host_idx',),
    'instance_mappings': ('instance_uuid_idx', 'project_id_idx',
                          'instance_mappings_user_id_project_id_idx'),
}

_NEW_INDEXES = {
    'instance_mappings': (
        ('ix_instance_mappings_project_id', ['project_id']),
        ('ix_instance_mappings_user_id', ['user_id']),
        ('ix_instance_mappings_cell_id', ['cell_id']),
    ),
}


def _columns(inspector, table: str) -> dict:
    return {column['name']: column for column in
            inspector.get_columns(table)}


def _cell_foreign_key(inspector, table: str) -> dict | None:
    for foreign_key in inspector.get_foreign_keys(table):
        if (foreign_key['constrained_columns'] == ['cell_id'] and
                foreign_key['referred_table'] == 'cell_mappings'):
            return foreign_key
    return None


def _convert_table(table: str, make_changes) -> None:
    """Run ``make_changes(batch, inspector)`` on ``table``.

    On SQLite, renaming a foreign key means rebuilding the table; an
    unnamed one is named by the convention while it is rebuilt.
    """
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    sqlite = bind.dialect.name == 'sqlite'
    foreign_key = _cell_foreign_key(inspector, table)
    rebuild = sqlite and foreign_key is not None and (
        foreign_key['name'] != _foreign_key_name(table))
    with op.batch_alter_table(
            table, recreate='always' if rebuild else 'auto',
            naming_convention=_NAMING_CONVENTION) as batch:
        make_changes(batch, inspector)


def _foreign_key_name(table: str) -> str:
    return 'fk_%s_cell_id_cell_mappings' % table


def _drop_legacy_indexes(batch, inspector, table: str) -> None:
    existing = {index['name'] for index in inspector.get_indexes(table)}
    for name in _LEGACY_INDEXES[table]:
        if name in existing:
            batch.drop_index(name)


def _create_new_indexes(batch, inspector, table: str) -> None:
    existing = {index['name'] for index in inspector.get_indexes(table)}
    for name, columns in _NEW_INDEXES.get(table, ()):
        if name not in existing:
            batch.create_index(name, columns)


def _drop_legacy_foreign_key(batch, inspector, table: str) -> bool:
    """Drop a cell_id foreign key not named by the convention.

    Returns True when the conventional one must be created. MySQL keeps
    the index it made for the old key under the key's (or the column's)
    name; it goes too, so the new key gets an index named after itself.
    """
    foreign_key = _cell_foreign_key(inspector, table)
    wanted = _foreign_key_name(table)
    if foreign_key is not None and foreign_key['name'] in (wanted, None):
        # None: SQLite, named by the convention while it is rebuilt.
        return False
    if foreign_key is not None:
        batch.drop_constraint(foreign_key['name'], type_='foreignkey')
        if op.get_bind().dialect.name == 'mysql':
            for index in inspector.get_indexes(table):
                if (index['name'] in (foreign_key['name'], 'cell_id') and
                        index['column_names'] == ['cell_id'] and
                        not index.get('unique')):
                    batch.drop_index(index['name'])
    return True


def _set_false_default(batch, columns: dict, name: str) -> None:
    batch.alter_column(name, existing_type=columns[name]['type'],
                       existing_nullable=columns[name]['nullable'],
                       server_default=sa.false())


def _cell_mappings(batch, inspector) -> None:
    columns = _columns(inspector, 'cell_mappings')
    _drop_legacy_indexes(batch, inspector, 'cell_mappings')
    for name in ('transport_url', 'database_connection'):
        # The reflected type, so a MySQL MEDIUMTEXT stays MEDIUMTEXT.
        batch.alter_column(name, existing_type=columns[name]['type'],
                           nullable=False)
    _set_false_default(batch, columns, 'disabled')


def _mapping_table(table: str, flag: str | None = None):
    def make_changes(batch, inspector) -> None:
        create_foreign_key = _drop_legacy_foreign_key(batch, inspector,
                                                      table)
        _drop_legacy_indexes(batch, inspector, table)
        _create_new_indexes(batch, inspector, table)
        if flag is not None:
            _set_false_default(batch, _columns(inspector, table), flag)
        if create_foreign_key:
            batch.create_foreign_key(_foreign_key_name(table),
                                     'cell_mappings', ['cell_id'], ['id'])
    return make_changes


def _rename_primary_keys() -> None:
    """PostgreSQL names primary keys ``<table>_pkey``; MySQL calls every
    one PRIMARY and SQLite keeps no name worth renaming."""
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    inspector = sa.inspect(bind)
    quote = bind.dialect.identifier_preparer.quote
    for table in ('cell_mappings', 'host_mappings', 'instance_mappings'):
        current = inspector.get_pk_constraint(table).get('name')
        wanted = 'pk_' + table
        if current and current != wanted:
            op.execute('ALTER TABLE %s RENAME CONSTRAINT %s TO %s' % (
                quote(table), quote(current), quote(wanted)))


def upgrade() -> None:
    if migration.nova_manages(op.get_bind()):
        # Nova's alembic line owns these tables, their names and columns;
        # this project reads them as they are (see migration.nova_manages).
        return
    _convert_table('cell_mappings', _cell_mappings)
    _convert_table('host_mappings', _mapping_table('host_mappings'))
    _convert_table('instance_mappings',
                   _mapping_table('instance_mappings', 'queued_for_delete'))
    _rename_primary_keys()
