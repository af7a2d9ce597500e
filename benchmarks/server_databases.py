"""Throwaway databases on the local PostgreSQL and MariaDB, for benchmarks.

The servers are reached the way the tests reach them (oslo.db's
``openstack_citest`` provisioning, see
:mod:`nova_cells.tests.fixtures.backends`); a server that is not reachable
is simply left out, and the benchmark says so in its JSON.
"""

import contextlib
import uuid

import sqlalchemy as sa
from oslo_db import exception as db_exception
from oslo_db.sqlalchemy import provision

#: Server backends, in the order benchmarks report them.
SERVERS = ('postgresql', 'mysql')


def reachable() -> dict:
    """``{backend: None}`` for each reachable server, ``{backend: reason}``
    for each that is not."""
    status = {}
    for kind in SERVERS:
        try:
            provision.Backend.backend_for_database_type(kind)
            status[kind] = None
        except db_exception.BackendNotAvailable as error:
            status[kind] = 'not reachable: %s' % (
                str(error).splitlines()[0][:120])
    return status


@contextlib.contextmanager
def databases(kind: str, names: list[str]):
    """Yield ``{name: url}`` of new, empty databases; dropped afterwards."""
    backend = provision.Backend.backend_for_database_type(kind)
    created = {}
    try:
        for name in names:
            database = 'ncbench_%s' % uuid.uuid4().hex[:12]
            backend.create_named_database(database)
            created[name] = database
        yield {name: backend.provisioned_database_url(database)
               .render_as_string(hide_password=False)
               for name, database in created.items()}
    finally:
        for database in created.values():
            backend.drop_named_database(database, conditional=True)


@contextlib.contextmanager
def driver_connection(url: str):
    """The bare driver's own connection (psycopg2 / PyMySQL) to ``url``,
    in autocommit: the floor a routed read is measured against."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              isolation_level='AUTOCOMMIT')
    connection = engine.raw_connection()
    try:
        yield connection.driver_connection
    finally:
        connection.close()
        engine.dispose()


def driver_select(url: str, statement) -> tuple[str, dict]:
    """``statement`` (SQLAlchemy Core, bound parameter ``uuid``) as the
    driver's own SQL text and its other parameters' values."""
    dialect = sa.create_engine(url, poolclass=sa.pool.NullPool).dialect
    compiled = statement.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)
