"""Schema migrations for the API database and for each cell's main database.

Two independent alembic environments, one per kind of database
(``api_migrations/`` and ``main_migrations/``): the API database is migrated
once per deployment, each cell's main database on its own, by targeting a
context at the cell.

Each line records its revision in a version table of its own
(:data:`VERSION_TABLES`: ``nova_cells_api_version``,
``nova_cells_main_version``), never in ``alembic_version``, which belongs to
Nova's alembic lines: a database both projects migrate keeps both records
apart, and Nova's ``nova-manage api_db|db sync`` keeps working on it.

What :func:`db_sync` does with a database depends on what it finds:

* a revision in its version table that this project knows: upgrade to the
  requested one;
* a revision it does not know (a newer release, the other line): refuse,
  change nothing;
* no version table of its own, but ``alembic_version``:

  - holding this line's revision (a database this project migrated before
    it had a version table of its own): the revision moves to the version
    table and ``alembic_version`` goes, in the same transaction as the
    upgrade;
  - holding any other revision (Nova's alembic line, any release): check
    the tables this project uses (:mod:`nova_cells.db.legacy`), record the
    line's first revision, which describes them, and upgrade. Nova's
    ``alembic_version`` and everything else of Nova's stay as they are:
    on such a database later revisions only add objects of their own (see
    :func:`nova_manages`). A mismatch is refused unchanged, naming the table
    and column;

* no alembic revision but a ``migrate_version`` table (Nova's
  sqlalchemy-migrate era): check the tables against Nova's legacy layout,
  record the first revision and upgrade; rows are kept. A mismatch is
  refused unchanged;
* nothing at all: build the schema from the first revision.

Downgrades are refused, as in Nova: a revision older than the current one is
an error, never a silent no-op. The whole sync runs in one transaction, so on
SQLite and PostgreSQL a failure leaves the database as it was (MySQL commits
each DDL statement on its own).

The database URL never passes through alembic's ini configuration, whose
``%`` interpolation would break passwords: the connection is handed to
``env.py`` in ``config.attributes['connection']``.

To add a revision, write ``<line>_<NNNN>_<what>.py`` in the line's
``versions/`` directory from its ``script.py.mako`` (``down_revision`` is the
current head), or generate one against an up-to-date database with
``alembic.command.revision(alembic_config(database, connection),
message, autogenerate=True, rev_id=...)``.
"""

import dataclasses
import logging
import os

import sqlalchemy as sa
from alembic import command
from alembic import config as alembic_config_module
from alembic import script as alembic_script
from oslo_db import exception as db_exception
from oslo_db.sqlalchemy import engines
from oslo_utils import strutils

from nova_cells import connections
from nova_cells import exception
from nova_cells import urls
from nova_cells.db import cell_engine
from nova_cells.db import legacy

__all__ = [
    'ALEMBIC_VERSION_TABLE',
    'API',
    'HEAD',
    'MAIN',
    'VERSION_TABLES',
    'alembic_config',
    'db_sync',
    'db_version',
    'head',
    'nova_manages',
    'recorded_revisions',
    'resolve_revision',
    'revisions',
    'run_environment',
]

LOG = logging.getLogger(__name__)

API = 'api'
MAIN = 'main'
HEAD = 'head'
#: Where Nova's alembic lines (and releases of this project before it had
#: version tables of its own) record their revision.
ALEMBIC_VERSION_TABLE = 'alembic_version'
#: Where each line of this project records its revision.
VERSION_TABLES = {API: 'nova_cells_api_version',
                  MAIN: 'nova_cells_main_version'}


@dataclasses.dataclass(frozen=True)
class _Line:
    name: str
    label: str
    directory: str
    conf_group: str
    version_table: str


_LINES = {
    API: _Line(API, 'API', 'api_migrations', 'api_database',
               VERSION_TABLES[API]),
    MAIN: _Line(MAIN, 'main', 'main_migrations', 'database',
                VERSION_TABLES[MAIN]),
}


def _line(database: str) -> _Line:
    try:
        return _LINES[database]
    except (KeyError, TypeError):
        raise exception.InvalidDatabaseName(database=database) from None


def alembic_config(database: str = API, connection=None):
    """An alembic ``Config`` for a line, optionally bound to a connection.

    :raises InvalidDatabaseName: ``database`` is neither 'api' nor 'main'.
    """
    line = _line(database)
    config = alembic_config_module.Config()
    location = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            line.directory)
    # The ini layer interpolates '%'; a path is the only value it ever sees.
    config.set_main_option('script_location', location.replace('%', '%%'))
    config.attributes['version_table'] = line.version_table
    if connection is not None:
        config.attributes['connection'] = connection
    return config


def _script_directory(database: str):
    return alembic_script.ScriptDirectory.from_config(
        alembic_config(database))


def revisions(database: str = API) -> list[str]:
    """Every revision id of a line, oldest first."""
    script = _script_directory(database)
    return [revision.revision
            for revision in reversed(list(script.walk_revisions()))]


def head(database: str = API) -> str:
    """The newest revision id of a line."""
    return _script_directory(database).get_current_head()


def resolve_revision(database: str, version: str | None) -> str:
    """The full revision id ``version`` names: None and 'head' mean head.

    A unique prefix of an id is accepted (``api_0002``), as alembic does.
    """
    known = revisions(database)
    if version is None or version == HEAD:
        return known[-1]
    version = str(version)
    matches = [revision for revision in known
               if revision == version or revision.startswith(version)]
    if version in matches:
        return version
    if len(matches) == 1:
        return matches[0]
    raise exception.InvalidRevision(database=_line(database).label,
                                    revision=version,
                                    known=', '.join(known + [HEAD]))


def _database_url(line: _Line, context) -> str:
    registry = connections.get_registry()
    if (line.name == MAIN and context is not None and
            getattr(context, 'db_connection', None)):
        return registry.url_for_key(context.db_connection)
    return getattr(registry.conf, line.conf_group).connection


def _engine_options(line: _Line) -> dict:
    # The line's own group ([api_database] or [database]); for a cell's
    # database _connect then replaces the retries with [cell_database]'s,
    # applied by cell_engine's connect hook.
    group = getattr(connections.get_registry().conf, line.conf_group)
    return dict(
        mysql_sql_mode=group.mysql_sql_mode,
        mysql_wsrep_sync_wait=group.mysql_wsrep_sync_wait,
        connection_recycle_time=group.connection_recycle_time,
        connection_debug=group.connection_debug,
        connection_trace=group.connection_trace,
        max_retries=group.max_retries,
        retry_interval=group.retry_interval,
        connection_parameters=group.connection_parameters,
        sqlite_synchronous=group.sqlite_synchronous,
        # Batch migrations rebuild SQLite tables, which enforced foreign
        # keys would turn into cascades or errors.
        sqlite_fk=False,
        # oslo.db's per-check-in sleep only helps eventlet green threads.
        thread_checkin=False,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return strutils.mask_password(text[0]) if text else type(error).__name__


def _check_url(line: _Line, url: str) -> None:
    reason = urls.database_url_problem(url)
    if reason is not None:
        raise exception.InvalidDatabaseURL(
            database=line.label, url=urls.mask_url(url), reason=reason)


def _cell_label(context) -> str | None:
    """The cell a targeted context names, None for the local database."""
    if getattr(context, 'db_connection', None):
        return str(getattr(context, 'cell_uuid', None) or 'cell')
    return None


def _connect(line: _Line, url: str, cell: str | None = None):
    """An engine and an open connection to ``url`` for migrations.

    A cell's database (``cell`` names it) is reached within
    ``[cell_database]`` connect timeout and retries, as every call into a
    cell is; statements stay unbounded, a migration may rightly be long.

    :raises InvalidDatabaseURL, DatabaseUnreachable: URL masked.
    """
    _check_url(line, url)
    urls.ensure_sqlite_directory(url)
    engine = None
    options = _engine_options(line)
    if cell is not None and line.name == MAIN:
        options['max_retries'] = 0
    try:
        engine = engines.create_engine(urls.engine_url(url),
                                       **options)
        if cell is not None and line.name == MAIN:
            cell_engine.install(engine, connections.get_registry().conf,
                                cell, bound_queries=False)
        return engine, engine.connect()
    except (db_exception.DBConnectionError, sa.exc.OperationalError,
            sa.exc.InterfaceError, exception.CellUnavailable) as error:
        if engine is not None:
            engine.dispose()
        raise exception.DatabaseUnreachable(
            database=line.label, url=urls.mask_url(url),
            reason=_first_line(error)) from None


def _sqlite_file_missing(url: str) -> bool:
    database = urls.sqlite_file(url)
    return database is not None and not os.path.exists(database)


def _stored_revisions(connection, table: str) -> list[str] | None:
    """Revisions recorded in ``table``; None when there is no such table."""
    if not sa.inspect(connection).has_table(table):
        return None
    version = sa.table(table, sa.column('version_num'))
    return list(connection.execute(
        sa.select(version.c.version_num)).scalars())


def _recorded_revisions(connection, line: _Line) -> list[str] | None:
    """This line's revisions: from its version table, else from an
    ``alembic_version`` holding only this line's (not moved yet)."""
    stored = _stored_revisions(connection, line.version_table)
    if stored is not None:
        return stored
    stored = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    if stored and set(stored) <= set(revisions(line.name)):
        return stored
    return None


def recorded_revisions(connection, database: str = MAIN) -> list[str]:
    """The revisions a line has recorded in the database ``connection``
    reaches, wherever it keeps them (its version table, or an
    ``alembic_version`` not moved yet); empty when it has none.

    Health checks read this rather than a table name of their own, so
    they follow the version table wherever it lives.
    """
    return _recorded_revisions(connection, _line(database)) or []


def nova_manages(connection) -> bool:
    """True when Nova's alembic line manages this database too.

    Revisions call this to leave Nova's objects alone: on such a database
    they only add objects of their own. A database this project migrated
    on its own has no ``alembic_version`` once its revision has moved to
    the line's version table, which :func:`db_sync` does before upgrading.
    """
    return sa.inspect(connection).has_table(ALEMBIC_VERSION_TABLE)


def db_version(database: str = API, context=None) -> str | None:
    """The current revision of a database, or None if it has none.

    With a context targeted at a cell, ``database='main'`` reads that cell's
    database. A SQLite database that does not exist yet is not created.
    A database only Nova migrates (not adopted yet) has none.
    """
    line = _line(database)
    url = _database_url(line, context)
    _check_url(line, url)
    if _sqlite_file_missing(url):
        return None
    engine, connection = _connect(line, url, _cell_label(context))
    try:
        with connection:
            stored = _recorded_revisions(connection, line)
    finally:
        engine.dispose()
    if not stored:
        return None
    return ','.join(sorted(stored))


def db_sync(version: str | None = None, database: str = API,
            context=None) -> None:
    """Bring a database to ``version`` (None: the newest revision).

    ``database='api'`` is the API database; ``database='main'`` is the main
    database of the cell ``context`` is targeted at, or the local one.

    :raises InvalidDatabaseName, InvalidRevision: before any connection.
    :raises DatabaseMigrationError: a database this project will not touch
        (unknown revision, legacy schema that does not match, tables with
        no version); it is left unchanged.
    :raises DowngradeNotSupported: ``version`` is older than the database.
    :raises DatabaseUnreachable: the database cannot be reached.
    """
    line = _line(database)
    target = resolve_revision(database, version)
    url = _database_url(line, context)
    engine, connection = _connect(line, url, _cell_label(context))
    try:
        with connection, connection.begin():
            _sync(connection, line, target, urls.mask_url(url))
    finally:
        engine.dispose()


def _current_revision(connection, line: _Line, masked_url: str):
    """The revision in the line's version table (None: no table, or
    empty); refuses one this release does not know."""
    stored = _stored_revisions(connection, line.version_table)
    if not stored:
        return None
    known = revisions(line.name)
    unknown = [revision for revision in stored if revision not in known]
    if not unknown and len(stored) > 1:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s records several revisions (%s) in %s but '
            'this line has a single history. Nothing was changed.' % (
                line.label, masked_url, ', '.join(stored),
                line.version_table)))
    if unknown:
        other = _other_line(line)
        hint = (' (a %s database revision: is this the right database?)' %
                other.label if set(unknown) & set(revisions(other.name))
                else '')
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is at revision %s, which this version '
            'of nova_cells does not know%s; known revisions: %s. Nothing '
            'was changed.' % (line.label, masked_url, ', '.join(stored),
                              hint, ', '.join(known))))
    _finish_move(connection, line, masked_url)
    return stored[0]


def _other_line(line: _Line) -> _Line:
    return _LINES[MAIN if line.name == API else API]


def _refuse_other_line(connection, line: _Line, masked_url: str) -> None:
    """Refuse a database the other line manages: the wrong URL."""
    other = _other_line(line)
    found = _stored_revisions(connection, other.version_table)
    moved = _stored_revisions(connection, ALEMBIC_VERSION_TABLE) or []
    found = found or [revision for revision in moved
                      if revision in revisions(other.name)]
    if found:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is at revision %s, a %s database '
            'revision: is this the right database? Nothing was changed.' % (
                line.label, masked_url, ', '.join(found), other.label)))


def _finish_move(connection, line: _Line, masked_url: str) -> None:
    """Drop an ``alembic_version`` left holding only this line's revisions
    next to its version table: a move MySQL's DDL commits cut short."""
    stored = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    if stored and set(stored) <= set(revisions(line.name)):
        LOG.info('Dropping the %s left by an earlier move of the %s '
                 'database at %s', ALEMBIC_VERSION_TABLE, line.label,
                 masked_url)
        sa.Table(ALEMBIC_VERSION_TABLE, sa.MetaData()).drop(connection)


def _stamp(connection, line: _Line, revision: str) -> str:
    command.stamp(alembic_config(line.name, connection), revision)
    return revision


def _move_or_adopt(connection, line: _Line, masked_url: str):
    """The revision to start from when the line's version table records
    none: moved from ``alembic_version``, adopted, or None (empty)."""
    _refuse_other_line(connection, line, masked_url)
    layout = legacy.LAYOUTS[line.name]
    inspector = sa.inspect(connection)
    alembic_revisions = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    known = revisions(line.name)
    ours = [revision for revision in alembic_revisions or ()
            if revision in known]
    if ours:
        foreign = sorted(set(alembic_revisions) - set(ours))
        if foreign or len(ours) > 1:
            raise exception.DatabaseMigrationError(reason=(
                'the %s database at %s records revisions %s in %s; '
                'refusing to guess which is current. Nothing was '
                'changed.' % (line.label, masked_url,
                              ', '.join(alembic_revisions),
                              ALEMBIC_VERSION_TABLE)))
        LOG.info('Moving the revision %s of the %s database at %s from %s '
                 'to %s', ours[0], line.label, masked_url,
                 ALEMBIC_VERSION_TABLE, line.version_table)
        _stamp(connection, line, ours[0])
        _finish_move(connection, line, masked_url)
        return ours[0]
    if alembic_revisions is not None:
        legacy.verify_nova_alembic(connection, line.name, line.label,
                                   masked_url, alembic_revisions)
        LOG.info("Adopting the %s database at %s, at Nova's revision %s: "
                 'recording %s in %s', line.label, masked_url,
                 ', '.join(alembic_revisions) or '(none)', layout.revision,
                 line.version_table)
        return _stamp(connection, line, layout.revision)
    if inspector.has_table(legacy.MIGRATE_VERSION_TABLE):
        legacy.verify(connection, line.name, line.label, masked_url)
        LOG.info('Adopting the legacy %s database at %s: recording %s in %s',
                 line.label, masked_url, layout.revision, line.version_table)
        return _stamp(connection, line, layout.revision)
    existing = sorted(set(layout.table_names) &
                      set(inspector.get_table_names()))
    if existing:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s has tables (%s) but records no schema '
            'revision (no %s, no alembic_version, no migrate_version); '
            'refusing to guess what they are. Nothing was changed.' % (
                line.label, masked_url, ', '.join(existing),
                line.version_table)))
    return None


def _sync(connection, line: _Line, target: str, masked_url: str) -> None:
    current = _current_revision(connection, line, masked_url)
    if current is None:
        current = _move_or_adopt(connection, line, masked_url)
    if current == target:
        LOG.info('The %s database at %s is already at %s', line.label,
                 masked_url, target)
        return
    known = revisions(line.name)
    if current is not None and known.index(target) < known.index(current):
        raise exception.DowngradeNotSupported(
            database=line.label, current=current, requested=target)
    LOG.info('Upgrading the %s database at %s from %s to %s', line.label,
             masked_url, current or 'an empty schema', target)
    command.upgrade(alembic_config(line.name, connection), target)


def run_environment(alembic_context, target_metadata) -> None:
    """Body of both ``env.py`` files: migrate the connection handed in."""
    connection = alembic_context.config.attributes.get('connection')
    if connection is None:
        raise RuntimeError(
            'nova_cells migrations run through nova_cells.db.migration '
            '(nova-cells-manage api_db|db sync), which hands alembic an '
            "open connection in config.attributes['connection'].")
    alembic_context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=alembic_context.config.attributes['version_table'],
        render_as_batch=connection.dialect.name == 'sqlite',
        compare_type=True,
    )
    with alembic_context.begin_transaction():
        alembic_context.run_migrations()
