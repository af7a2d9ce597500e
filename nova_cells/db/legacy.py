"""Recognise a database Nova built, before adopting it.

A database still under sqlalchemy-migrate control has a ``migrate_version``
table and no alembic revision; one that Nova's alembic lines manage has
Nova's revision in ``alembic_version``. :func:`verify` (migrate era) and
:func:`verify_nova_alembic` decide whether the tables this project uses are
the ones Nova created: every column this project reads is present with a
compatible type, and the unique constraints it relies on exist (under any
name). Only then may :mod:`nova_cells.db.migration` record the first
revision of the line and upgrade. Nova's alembic lines never changed these
columns, so one layout serves both.

The layouts below are frozen: they describe what Nova created, which never
changes, so a later revision adding a column must not add it here.

Nothing here writes. Every problem found is reported at once, so an operator
fixes a database in one round trip rather than one error at a time.
"""

import dataclasses

import sqlalchemy as sa

from nova_cells import exception

__all__ = [
    'API_LAYOUT',
    'BOOLEAN',
    'DATETIME',
    'INTEGER',
    'LAYOUTS',
    'LegacyLayout',
    'LegacyTable',
    'MAIN_LAYOUT',
    'MIGRATE_VERSION_TABLE',
    'TEXT',
    'find_problems',
    'string',
    'verify',
    'verify_nova_alembic',
]

# Column kinds, checked against reflected types (see _type_problem).
INTEGER = ('integer', None)
BOOLEAN = ('boolean', None)
DATETIME = ('datetime', None)
TEXT = ('text', None)


def string(length: int) -> tuple[str, int]:
    return ('string', length)


@dataclasses.dataclass(frozen=True)
class LegacyTable:
    name: str
    columns: dict[str, tuple[str, int | None]]
    #: Column sets that must already be unique (constraint or unique index).
    unique: tuple[tuple[str, ...], ...] = ()
    #: Columns the upgrade makes NOT NULL: a NULL in them blocks adoption.
    must_not_hold_null: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LegacyLayout:
    #: ``migrate_version.repository_id`` Nova used for this database.
    repository_id: str
    #: The alembic revision that describes this layout.
    revision: str
    tables: tuple[LegacyTable, ...]

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(table.name for table in self.tables)


_TIMESTAMPS = {'created_at': DATETIME, 'updated_at': DATETIME}
_SOFT_DELETE = {'deleted_at': DATETIME, 'deleted': INTEGER}

API_LAYOUT = LegacyLayout(
    repository_id='nova_api',
    revision='api_0001_nova_legacy',
    tables=(
        LegacyTable(
            'cell_mappings',
            dict(id=INTEGER, uuid=string(36), name=string(255),
                 transport_url=TEXT, database_connection=TEXT,
                 disabled=BOOLEAN, **_TIMESTAMPS),
            unique=(('uuid',),),
            must_not_hold_null=('transport_url', 'database_connection')),
        LegacyTable(
            'instance_mappings',
            dict(id=INTEGER, instance_uuid=string(36), cell_id=INTEGER,
                 project_id=string(255), user_id=string(255),
                 queued_for_delete=BOOLEAN, **_TIMESTAMPS),
            unique=(('instance_uuid',),)),
        LegacyTable(
            'host_mappings',
            dict(id=INTEGER, cell_id=INTEGER, host=string(255),
                 **_TIMESTAMPS),
            unique=(('host',),)),
    ))

MAIN_LAYOUT = LegacyLayout(
    repository_id='nova',
    revision='main_0001_nova_legacy',
    tables=(
        LegacyTable(
            'instances',
            dict(id=INTEGER, uuid=string(36), project_id=string(255),
                 user_id=string(255), host=string(255), node=string(255),
                 display_name=string(255), hostname=string(255),
                 vm_state=string(255), task_state=string(255),
                 power_state=INTEGER, availability_zone=string(255),
                 launched_at=DATETIME, terminated_at=DATETIME,
                 **_TIMESTAMPS, **_SOFT_DELETE),
            unique=(('uuid',),)),
        LegacyTable(
            'compute_nodes',
            dict(id=INTEGER, uuid=string(36), host=string(255),
                 hypervisor_hostname=string(255),
                 hypervisor_type=string(255), vcpus=INTEGER,
                 memory_mb=INTEGER, local_gb=INTEGER, mapped=INTEGER,
                 **_TIMESTAMPS, **_SOFT_DELETE),
            unique=(('host', 'hypervisor_hostname', 'deleted'),)),
        LegacyTable(
            'services',
            dict(id=INTEGER, uuid=string(36), host=string(255),
                 binary=string(255), topic=string(255),
                 report_count=INTEGER, disabled=BOOLEAN,
                 disabled_reason=string(255), forced_down=BOOLEAN,
                 version=INTEGER, last_seen_up=DATETIME,
                 **_TIMESTAMPS, **_SOFT_DELETE),
            unique=(('host', 'topic', 'deleted'),
                    ('host', 'binary', 'deleted'))),
    ))

LAYOUTS = {'api': API_LAYOUT, 'main': MAIN_LAYOUT}

MIGRATE_VERSION_TABLE = 'migrate_version'


def _type_problem(kind: tuple[str, int | None], reflected) -> str | None:
    """Why a reflected column type cannot hold ``kind``, or None if it can.

    Families rather than exact types: Nova's ``MediumText`` holds what a
    ``String(255)`` does, and MySQL reports a boolean as ``TINYINT(1)``.
    """
    family, length = kind
    if family == 'integer':
        ok = isinstance(reflected, sa.Integer)
    elif family == 'boolean':
        ok = isinstance(reflected, (sa.Boolean, sa.Integer))
    elif family == 'datetime':
        ok = isinstance(reflected, sa.DateTime)
    elif family == 'text':
        ok = (isinstance(reflected, sa.String) and
              getattr(reflected, 'length', None) is None)
    else:
        reflected_length = getattr(reflected, 'length', None)
        ok = isinstance(reflected, sa.String) and (
            reflected_length is None or reflected_length >= length)
    if ok:
        return None
    wanted = family if length is None else '%s(%d)' % (family, length)
    return 'is %s, expected %s' % (reflected, wanted)


def _sqlite_inline_unique_sets(connection, table: str) -> set[frozenset]:
    """Column sets a SQLite table declares unique inline (``host
    VARCHAR(255) NOT NULL UNIQUE``): SQLite keeps each as an automatic
    index of origin ``u``, which SQLAlchemy reflects neither as a
    constraint nor as an index."""
    if connection.dialect.name != 'sqlite':
        return set()
    quote = connection.dialect.identifier_preparer.quote
    sets = set()
    for index in connection.exec_driver_sql(
            'PRAGMA index_list(%s)' % quote(table)).mappings():
        if index['unique'] and index['origin'] == 'u':
            columns = connection.exec_driver_sql(
                'PRAGMA index_info(%s)' % quote(index['name'])).mappings()
            sets.add(frozenset(column['name'] for column in columns))
    return sets


def _unique_column_sets(connection, inspector,
                        table: str) -> set[frozenset]:
    sets = {frozenset(constraint['column_names'])
            for constraint in inspector.get_unique_constraints(table)}
    sets.update(frozenset(index['column_names'])
                for index in inspector.get_indexes(table)
                if index.get('unique'))
    return sets | _sqlite_inline_unique_sets(connection, table)


def _table_problems(connection, inspector, table: LegacyTable) -> list[str]:
    reflected = {column['name']: column['type']
                 for column in inspector.get_columns(table.name)}
    problems = []
    for name, kind in table.columns.items():
        if name not in reflected:
            problems.append('table %s has no column %s' % (table.name, name))
            continue
        problem = _type_problem(kind, reflected[name])
        if problem:
            problems.append('column %s.%s %s' % (table.name, name, problem))
    unique_sets = _unique_column_sets(connection, inspector, table.name)
    for columns in table.unique:
        if frozenset(columns) not in unique_sets:
            problems.append('table %s has no unique constraint on (%s)' % (
                table.name, ', '.join(columns)))
    for name in table.must_not_hold_null:
        if name not in reflected:
            continue
        column = sa.column(name)
        query = sa.select(sa.func.count()).select_from(
            sa.table(table.name, column)).where(column.is_(None))
        nulls = connection.execute(query).scalar()
        if nulls:
            problems.append('%d row(s) of %s have no %s' % (
                nulls, table.name, name))
    return problems


def _repository_problems(connection, layout: LegacyLayout) -> list[str]:
    table = sa.table(MIGRATE_VERSION_TABLE, sa.column('repository_id'))
    repositories = connection.execute(
        sa.select(table.c.repository_id)).scalars().all()
    return ['migrate_version names repository %r, expected %r' % (
        repository, layout.repository_id)
        for repository in repositories
        if repository != layout.repository_id]


def _layout_problems(connection, inspector, layout: LegacyLayout
                     ) -> list[str]:
    existing = set(inspector.get_table_names())
    problems = []
    for table in layout.tables:
        if table.name not in existing:
            problems.append('table %s is missing' % table.name)
            continue
        problems.extend(_table_problems(connection, inspector, table))
    return problems


def find_problems(connection, database: str) -> list[str]:
    """Everything that keeps the database at ``connection`` from adoption."""
    layout = LAYOUTS[database]
    problems = []
    # Look before reading: a failed SELECT would abort the whole
    # transaction on PostgreSQL.
    inspector = sa.inspect(connection)
    migrate_columns = {column['name'] for column in
                       inspector.get_columns(MIGRATE_VERSION_TABLE)}
    if 'repository_id' in migrate_columns:
        problems.extend(_repository_problems(connection, layout))
    problems.extend(_layout_problems(connection, inspector, layout))
    return problems


def verify(connection, database: str, label: str, url: str) -> None:
    """Raise unless the migrate-era database at ``connection`` can be adopted.

    ``url`` must already be masked; it only names the database.

    :raises DatabaseMigrationError: naming every mismatch found.
    """
    problems = find_problems(connection, database)
    if problems:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is under sqlalchemy-migrate control but '
            "does not match Nova's legacy layout: %s. Nothing was changed; "
            "bring it to Nova's final migrate-era schema (Nova's own "
            'db sync) and run this again.' % (
                label, url, '; '.join(problems))))


def verify_nova_alembic(connection, database: str, label: str, url: str,
                        nova_revisions: list[str]) -> None:
    """Raise unless a database Nova's alembic line manages can be adopted.

    Every Nova release since the move to alembic keeps the columns this
    project uses as the migrate era left them, so the same layout is
    checked, whatever Nova's revision (``nova_revisions``, only named in
    the message). ``url`` must already be masked.

    :raises DatabaseMigrationError: naming every table and column that
        does not match.
    """
    problems = _layout_problems(connection, sa.inspect(connection),
                                LAYOUTS[database])
    if problems:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s records alembic revision %s (not one of '
            "nova_cells') but its tables do not hold what nova_cells "
            'uses: %s. Nothing was changed; point nova_cells at a Nova %s '
            'database.' % (label, url, ', '.join(nova_revisions) or
                           '(none)', '; '.join(problems), label)))
