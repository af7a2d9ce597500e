"""``check_cells``: every cell's health, checked in parallel in one timeout.

For each cell: is its database reachable and how long a round trip takes,
where its schema is (at head, behind, ahead or unknown), how many
connections its database server has open to it (from every process, the
check's own not counted; what grows with cells x workers, see the
connection budget), how many instances and hosts are mapped to it,
whether it is disabled, and whether its message queue answers (cell0 is
expected to have none).

Every check runs in a daemon thread of its own with fresh connections
(never the process's shared pools, nor its fail-fast state: a health check
must look, not trust what it saw last time) bounded by
``[cell_database] connect_timeout``. The caller waits for all of them
until one deadline; a check still running then is reported as "no answer
within N s" and left behind: it holds no lock anything else needs, so the
command finishes on time even with hung cells.
"""

import dataclasses
import os
import re
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells import cell_queue
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import urls
from nova_cells.db import cell_engine
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'AHEAD',
    'AT_HEAD',
    'BEHIND',
    'CellHealth',
    'NO_QUEUE_EXPECTED',
    'OK',
    'UNKNOWN',
    'check_cells',
    'schema_state',
]

AT_HEAD = 'at head'
BEHIND = 'behind'
AHEAD = 'ahead'
UNKNOWN = 'unknown'

NO_QUEUE_EXPECTED = 'none expected'
OK = 'ok'


@dataclasses.dataclass
class CellHealth:
    """What check_cells found about one cell; ``problems`` empty if healthy."""

    uuid: str
    name: str | None
    disabled: bool
    instances: int
    hosts: int
    database: str = 'not checked'
    round_trip_ms: float | None = None
    schema: str = UNKNOWN
    revision: str | None = None
    connections: int | None = None
    message_queue: str = 'not checked'
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values['healthy'] = self.healthy
        return values


def _revision_number(revision: str) -> int | None:
    match = re.match(r'^[a-z]+_(\d+)', revision or '')
    return int(match.group(1)) if match else None


def schema_state(revision: str | None) -> str:
    """Where a main database's stored revision stands against our head."""
    if not revision:
        return UNKNOWN
    known = migration.revisions(migration.MAIN)
    if revision == known[-1]:
        return AT_HEAD
    if revision in known:
        return BEHIND
    number = _revision_number(revision)
    head_number = _revision_number(known[-1])
    if number is not None and head_number is not None and (
            number > head_number):
        return AHEAD
    return UNKNOWN


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return urls.mask_text(text[0]) if text else type(error).__name__


def _sqlite_file_missing(url: sa.engine.URL) -> bool:
    database = url.database
    return (url.get_backend_name() == 'sqlite' and bool(database) and
            database != ':memory:' and not database.startswith('file:') and
            not os.path.exists(database))


class _Finding:
    """What one check thread found; merged into a CellHealth only if the
    thread finished in time, so a late thread never changes a report
    that is being printed."""

    def __init__(self) -> None:
        self.fields: dict = {}
        self.problems: list[str] = []


# Connections the server has open to the current database, the asking
# one included. A user sees what its privileges let it see (MySQL without
# PROCESS: its own user's connections, which is what the services use).
_SERVER_CONNECTIONS = {
    'postgresql': 'SELECT count(*) FROM pg_stat_activity '
                  'WHERE datname = current_database()',
    'mysql': 'SELECT count(*) FROM information_schema.processlist '
             'WHERE db = DATABASE()',
}


def _server_connections(connection) -> int | None:
    """Other connections to this connection's database on its server;
    None where a server has none to count (SQLite) or would not say."""
    query = _SERVER_CONNECTIONS.get(connection.dialect.name)
    if query is None:
        return None
    try:
        return max(connection.execute(sa.text(query)).scalar_one() - 1, 0)
    except Exception:
        # Only a figure shown: a server that will not say is no problem
        # of the cell's.
        return None


def _check_database(health: '_Finding', url: str, label: str) -> None:
    parsed = urls.parse_database_url(url)
    if _sqlite_file_missing(parsed):
        health.fields['database'] = 'missing'
        health.problems.append('its database file does not exist')
        return
    engine = sa.create_engine(urls.engine_url(url),
                              poolclass=sa_pool.NullPool)
    cell_engine.install(engine, connections.get_registry().conf, label)
    try:
        started = time.monotonic()
        with engine.connect() as connection:
            connection.execute(sa.text('SELECT 1'))
            health.fields['round_trip_ms'] = round(
                (time.monotonic() - started) * 1000, 1)
            health.fields['database'] = OK
            revisions = migration.recorded_revisions(connection,
                                                     migration.MAIN)
            health.fields['connections'] = _server_connections(connection)
    except Exception as error:
        health.fields['database'] = 'unreachable'
        health.problems.append('database: %s' % _first_line(error))
        return
    finally:
        engine.dispose()
    revision = ','.join(sorted(revisions)) or None
    schema = schema_state(revisions[0] if len(revisions) == 1 else None)
    health.fields.update(revision=revision, schema=schema)
    if schema != AT_HEAD:
        health.problems.append('schema %s (revision %s)' % (
            schema, revision or 'none'))


def _check_queue(health: '_Finding', url: str, is_cell0: bool,
                 timeout: float) -> None:
    if urls.has_no_transport(url):
        if is_cell0:
            health.fields['message_queue'] = NO_QUEUE_EXPECTED
        else:
            health.fields['message_queue'] = 'none'
            health.problems.append('it has no message queue '
                                   '(transport_url none:)')
        return
    if not cell_queue.is_checked(url):
        health.fields['message_queue'] = 'not checked (%s driver)' % (
            url.partition('://')[0].lower())
        return
    try:
        cell_queue.probe(url, timeout)
    except Exception as error:
        health.fields['message_queue'] = 'unreachable'
        health.problems.append('message queue: %s' %
                               cell_queue.probe_error(error))
        return
    health.fields['message_queue'] = OK


def _cells(ctxt, cell_uuid: str | None) -> Sequence:
    if cell_uuid:
        return [cell_mapping_obj.CellMapping.get_by_uuid(ctxt, cell_uuid)]
    return list(cell_mapping_obj.CellMappingList.get_all(ctxt))


def check_cells(ctxt: nova_context.RequestContext,
                cell_uuid: str | None = None,
                timeout: float | None = None) -> list[CellHealth]:
    """Check every cell (or one) in parallel; return within ``timeout``.

    ``timeout`` defaults to ``[cell_database] connect_timeout`` plus one
    second for the queries (at least 1 s in all).

    :raises CellMappingNotFound: ``cell_uuid`` names no cell.
    """
    if timeout is None:
        timeout = max(connections.get_registry().conf.cell_database
                      .connect_timeout, 0) + 1.0
    cells = _cells(ctxt, cell_uuid)
    counts = mapping_admin.mapping_counts(ctxt)
    deadline = time.monotonic() + timeout
    results = []
    threads = []
    for cell in cells:
        mapped = counts.get(cell.id, mapping_admin.MappingCounts())
        health = CellHealth(uuid=cell.uuid, name=cell.name,
                            disabled=bool(cell.disabled),
                            instances=mapped.instance_mappings,
                            hosts=mapped.hosts)
        results.append(health)
        try:
            targetable = cell.with_urls_filled()
        except Exception as error:
            health.problems.append(_first_line(error))
            continue
        checks = (
            ('database', _check_database,
             (targetable.database_connection, cell.identity)),
            ('message_queue', _check_queue,
             (targetable.transport_url, cell.is_cell0(), timeout)))
        for field, check, arguments in checks:
            finding = _Finding()
            thread = threading.Thread(target=check,
                                      args=(finding,) + arguments,
                                      daemon=True,
                                      name='check-%s-%s' % (field, cell.uuid))
            thread.start()
            threads.append((thread, finding, health, field))
    for thread, finding, health, field in threads:
        thread.join(max(deadline - time.monotonic(), 0))
        if thread.is_alive():
            # Left behind: a daemon thread, holding nothing shared.
            setattr(health, field, 'no answer')
            health.problems.append('%s: no answer within %.1f s' % (
                field.replace('_', ' '), timeout))
            continue
        for name, value in finding.fields.items():
            setattr(health, name, value)
        health.problems.extend(finding.problems)
    return results
