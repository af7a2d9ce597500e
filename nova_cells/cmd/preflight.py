"""What an action needs of the API database, checked before it runs.

Without this an action finds out half-way: ``list_cells`` on a fresh
machine creates an empty API database file and then fails with ``no such
table: cell_mappings``; ``create_cell`` on an API database a newer release
has migrated writes rows whose meaning that release may have changed. So
each ``cell_v2`` action declares whether it :data:`READS` or
:data:`WRITES` the API database (see :mod:`nova_cells.cmd.common`) and
:func:`check_api_database` refuses, in the operator's terms, before
anything is opened for writing:

* no API database (a SQLite file that does not exist): say so and how to
  create it, without creating it;
* no schema: say to run ``nova-cells-manage api_db sync``;
* a revision this code does not know (a newer release) or an older one:
  writing actions refuse, naming the revision; reading ones go on. Tables
  with no recorded revision (Nova's legacy ones before adoption) are
  used as they are.
"""

import os

import sqlalchemy as sa

from nova_cells import connections
from nova_cells import urls
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models

__all__ = [
    'APIDatabaseNotReady',
    'READS',
    'SYNC_COMMAND',
    'WRITES',
    'check_api_database',
]

READS = 'reads'
WRITES = 'writes'

SYNC_COMMAND = 'nova-cells-manage api_db sync'


class APIDatabaseNotReady(Exception):
    """The API database cannot serve the action; the message says why
    and what to run."""


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite file ``url`` names that does not exist."""
    path = urls.sqlite_file(url)
    if path is None or os.path.exists(path):
        return None
    return os.path.abspath(path)


def _schema_state() -> tuple[bool, str | None]:
    """Whether the API tables exist, and the recorded alembic revision
    (None when none is recorded: an empty database, or tables built
    without alembic, as Nova's legacy ones are until adopted)."""
    engine = db_api.get_engine(database='api')
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        has_tables = inspector.has_table(api_models.CellMapping.__tablename__)
        revision = None
        for table_name in (migration.VERSION_TABLES[migration.API],
                           migration.ALEMBIC_VERSION_TABLE):
            if not inspector.has_table(table_name):
                continue
            table = sa.table(table_name, sa.column('version_num'))
            stored = connection.execute(
                sa.select(table.c.version_num)).scalars().all()
            revision = ','.join(sorted(stored)) or None
            break
    return has_tables, revision


def check_api_database(needs: str) -> None:
    """:raises APIDatabaseNotReady: naming the database (masked) and the
    command that fixes it."""
    url = connections.get_registry().conf.api_database.connection
    missing = _missing_sqlite_file(url)
    if missing is not None:
        raise APIDatabaseNotReady(
            'there is no API database at %s; create it with %s' % (
                missing, SYNC_COMMAND))
    has_tables, revision = _schema_state()
    if not has_tables:
        raise APIDatabaseNotReady(
            'the API database %s has no schema; run %s' % (
                urls.mask_url(url), SYNC_COMMAND))
    newest = migration.head(migration.API)
    if needs != WRITES or revision is None or revision == newest:
        return
    if revision not in migration.revisions(migration.API):
        raise APIDatabaseNotReady(
            'the API database is at revision %s, which this version of '
            'nova_cells does not know (its newest is %s): refusing to '
            'write to it; use the release that migrated it' % (
                revision, newest))
    raise APIDatabaseNotReady(
        'the API database is at revision %s, older than this version\'s '
        '%s; run %s first' % (revision, newest, SYNC_COMMAND))
