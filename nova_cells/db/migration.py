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

import logging
import os

import sqlalchemy as sa
from alembic import command
from oslo_db import exception as db_exception
from oslo_db.sqlalchemy import engines
from oslo_utils import strutils

from nova_cells import connections
from nova_cells import exception
from nova_cells import urls
from nova_cells.db import cell_engine
from nova_cells.db import migration_lines
from nova_cells.db import version_tables
from nova_cells.db.migration_lines import ALEMBIC_VERSION_TABLE
from nova_cells.db.migration_lines import API
from nova_cells.db.migration_lines import HEAD
from nova_cells.db.migration_lines import MAIN
from nova_cells.db.migration_lines import VERSION_TABLES
from nova_cells.db.migration_lines import alembic_config
from nova_cells.db.migration_lines import head
from nova_cells.db.migration_lines import resolve_revision
from nova_cells.db.migration_lines import revisions
from nova_cells.db.version_tables import nova_manages
from nova_cells.db.version_tables import recorded_revisions

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

def _database_url(line: migration_lines.Line, context) -> str:
    registry = connections.get_registry()
    if (line.name == MAIN and context is not None and
            getattr(context, 'db_connection', None)):
        return registry.url_for_key(context.db_connection)
    return getattr(registry.conf, line.conf_group).connection


def _engine_options(line: migration_lines.Line) -> dict:
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


def _check_url(line: migration_lines.Line, url: str) -> None:
    reason = urls.database_url_problem(url)
    if reason is not None:
        raise exception.InvalidDatabaseURL(
            database=line.label, url=urls.mask_url(url), reason=reason)


def _cell_label(context) -> str | None:
    """The cell a targeted context names, None for the local database."""
    if getattr(context, 'db_connection', None):
        return str(getattr(context, 'cell_uuid', None) or 'cell')
    return None


def _connect(line: migration_lines.Line, url: str, cell: str | None = None):
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


def db_version(database: str = API, context=None) -> str | None:
    """The current revision of a database, or None if it has none.

    With a context targeted at a cell, ``database='main'`` reads that cell's
    database. A SQLite database that does not exist yet is not created.
    A database only Nova migrates (not adopted yet) has none.
    """
    line = migration_lines.line_of(database)
    url = _database_url(line, context)
    _check_url(line, url)
    if _sqlite_file_missing(url):
        return None
    engine, connection = _connect(line, url, _cell_label(context))
    try:
        with connection:
            stored = version_tables.line_revisions(connection, line)
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
    line = migration_lines.line_of(database)
    target = resolve_revision(database, version)
    url = _database_url(line, context)
    engine, connection = _connect(line, url, _cell_label(context))
    try:
        with connection, connection.begin():
            _sync(connection, line, target, urls.mask_url(url))
    finally:
        engine.dispose()


def _sync(connection, line: migration_lines.Line, target: str,
          masked_url: str) -> None:
    current = version_tables.current_revision(connection, line, masked_url)
    if current is None:
        current = version_tables.move_or_adopt(connection, line, masked_url)
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
