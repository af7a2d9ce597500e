"""Schema migrations for the API database and for each cell's main database.

Two independent alembic environments, one per kind of database
(``api_migrations/`` and ``main_migrations/``): the API database is migrated
once per deployment, each cell's main database on its own, by targeting a
context at the cell.

What :func:`db_sync` does with a database depends on what it finds:

* an alembic revision this project knows: upgrade to the requested one;
* an alembic revision it does not know (a newer release, another project,
  the other line): refuse, change nothing;
* no alembic revision but a ``migrate_version`` table (Nova's
  sqlalchemy-migrate era): check the tables against Nova's legacy layout
  (:mod:`nova_cells.db.legacy`), stamp the first revision, which describes
  that layout, and upgrade; rows are kept. A mismatch is refused unchanged;
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

LOG = logging.getLogger(__name__)

API = 'api'
MAIN = 'main'
HEAD = 'head'
ALEMBIC_VERSION_TABLE = 'alembic_version'


@dataclasses.dataclass(frozen=True)
class _Line:
    name: str
    label: str
    directory: str
    conf_group: str


_LINES = {
    API: _Line(API, 'API', 'api_migrations', 'api_database'),
    MAIN: _Line(MAIN, 'main', 'main_migrations', 'database'),
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
    # A cell's database takes the [database] pool and retry settings, as
    # the connection registry does for its facades.
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


def _stored_revisions(connection) -> list[str] | None:
    """Revisions in ``alembic_version``; None when there is no such table."""
    if not sa.inspect(connection).has_table(ALEMBIC_VERSION_TABLE):
        return None
    table = sa.table(ALEMBIC_VERSION_TABLE, sa.column('version_num'))
    return list(connection.execute(
        sa.select(table.c.version_num)).scalars())


def db_version(database: str = API, context=None) -> str | None:
    """The current revision of a database, or None if it has none.

    With a context targeted at a cell, ``database='main'`` reads that cell's
    database. A SQLite database that does not exist yet is not created.
    """
    line = _line(database)
    url = _database_url(line, context)
    _check_url(line, url)
    if _sqlite_file_missing(url):
        return None
    engine, connection = _connect(line, url, _cell_label(context))
    try:
        with connection:
            stored = _stored_revisions(connection)
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
    stored = _stored_revisions(connection)
    if not stored:
        return None
    known = revisions(line.name)
    unknown = [revision for revision in stored if revision not in known]
    if not unknown and len(stored) > 1:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s records several revisions (%s) but '
            'this line has a single history. Nothing was changed.' % (
                line.label, masked_url, ', '.join(stored))))
    if unknown:
        other = [revision for revision in unknown
                 if revision in revisions(_other_line(line))]
        hint = (' (a %s database revision: is this the right database?)' %
                _LINES[_other_line(line)].label if other else '')
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is at revision %s, which this version '
            'of nova_cells does not know%s; known revisions: %s. Nothing '
            'was changed.' % (line.label, masked_url, ', '.join(stored),
                              hint, ', '.join(known))))
    return stored[0]


def _other_line(line: _Line) -> str:
    return MAIN if line.name == API else API


def _adopt_or_check_empty(connection, line: _Line, masked_url: str):
    """The revision to start from when alembic has recorded none."""
    layout = legacy.LAYOUTS[line.name]
    inspector = sa.inspect(connection)
    if inspector.has_table(legacy.MIGRATE_VERSION_TABLE):
        legacy.verify(connection, line.name, line.label, masked_url)
        LOG.info('Adopting the legacy %s database at %s: stamping %s',
                 line.label, masked_url, layout.revision)
        command.stamp(alembic_config(line.name, connection), layout.revision)
        return layout.revision
    existing = sorted(set(layout.table_names) &
                      set(inspector.get_table_names()))
    if existing:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s has tables (%s) but records no schema '
            'revision (no alembic_version, no migrate_version); refusing to '
            'guess what they are. Nothing was changed.' % (
                line.label, masked_url, ', '.join(existing))))
    return None


def _sync(connection, line: _Line, target: str, masked_url: str) -> None:
    current = _current_revision(connection, line, masked_url)
    if current is None:
        current = _adopt_or_check_empty(connection, line, masked_url)
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
        render_as_batch=connection.dialect.name == 'sqlite',
        compare_type=True,
    )
    with alembic_context.begin_transaction():
        alembic_context.run_migrations()
