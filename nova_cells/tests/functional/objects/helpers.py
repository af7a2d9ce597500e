"""Shared setup for the mapping-object functional tests."""

import types

import fixtures
import sqlalchemy as sa
from oslo_utils import uuidutils

from nova_cells import connections
from nova_cells import context
from nova_cells import objects
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models
from nova_cells.tests import base
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import database as database_fixture


class _ClassDatabases:
    """Databases created once for a test class and emptied per test."""

    def __init__(self, backend: str):
        self.backend = backend
        self._databases: list[tuple[str, object]] = []
        self.api_url = self._create(database_fixture.API, 'api')
        self.main_url = self._create(database_fixture.MAIN, 'main')
        self._cell_urls: list[str] = []

    def _create(self, kind: str, name: str) -> str:
        database = database_fixture.SchemaDatabase(kind, self.backend, name)
        database.setUp()
        self._databases.append((kind, database))
        return database.url

    def cell_urls(self, count: int) -> list[str]:
        while len(self._cell_urls) < count:
            self._cell_urls.append(self._create(
                database_fixture.MAIN, 'cell%d' % len(self._cell_urls)))
        return self._cell_urls[:count]

    def empty(self) -> None:
        for kind, database in self._databases:
            metadata = (api_models.ApiBase.metadata if kind == 'api'
                        else models.MainBase.metadata)
            engine = sa.create_engine(database.url,
                                      poolclass=sa.pool.NullPool)
            try:
                with engine.begin() as connection:
                    for table in reversed(metadata.sorted_tables):
                        connection.execute(table.delete())
            finally:
                engine.dispose()

    def drop(self) -> None:
        for _kind, database in reversed(self._databases):
            database.cleanUp()


class ClassDatabaseTestCase(base.TestCase):
    """:class:`~nova_cells.tests.base.DatabaseTestCase` with the databases
    made once per class (emptied before each test) instead of per test.

    Provisioning a PostgreSQL database takes about a second, which made
    these suites cost two seconds a test; the behaviour under test does not
    depend on a database being new, only on it being empty.
    """

    BACKEND = backends.SQLITE

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.BACKEND != backends.SQLITE:
            # Skip (fail in CI) before any fixture wraps the SkipTest.
            backends.require_backend(cls.BACKEND)
        cls._class_databases = _ClassDatabases(cls.BACKEND)
        cls.addClassCleanup(cls._class_databases.drop)

    def setUp(self):
        super().setUp()
        databases = self._class_databases
        databases.empty()
        self.flags(group='api_database', connection=databases.api_url)
        self.flags(group='database', connection=databases.main_url,
                   max_retries=1, retry_interval=0)
        registry = connections.get_registry()
        registry.configure(self.conf)
        self.addCleanup(registry.dispose_all)
        self.database = types.SimpleNamespace(
            api=types.SimpleNamespace(url=databases.api_url),
            main=types.SimpleNamespace(url=databases.main_url))
        self.context = context.get_admin_context()

    def cell_database_urls(self, count: int) -> list[str]:
        return self._class_databases.cell_urls(count)


def count_rows(model, *where) -> int:
    """Rows of an API table, read outside any object code."""
    engine = db_api.get_engine(database='api')
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(model.__table__)
            .where(*where)).scalar_one()


def create_cell(context, name='cell1', **values):
    values.setdefault('transport_url', 'rabbit://nova:pw@mq/%s' % name)
    values.setdefault('database_connection',
                      'sqlite:////tmp/nova_cells_test_%s.db' % name)
    cell = objects.CellMapping(context, name=name, **values)
    cell.create()
    return cell


def create_instance_mapping(context, cell, project_id='p1', **values):
    mapping = objects.InstanceMapping(
        context, instance_uuid=uuidutils.generate_uuid(),
        project_id=project_id, cell_mapping=cell, **values)
    mapping.create()
    return mapping


def set_null_queued_for_delete(instance_uuids):
    """Make mappings look like Nova's before its online migration."""
    table = api_models.InstanceMapping.__table__
    engine = db_api.get_engine(database='api')
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(
            table.c.instance_uuid.in_(instance_uuids)).values(
            queued_for_delete=None))


class SelectCounter(fixtures.Fixture):
    """Count the SELECT statements sent to the API database, except the
    mapping cache's coherence check (at most one per check interval,
    whatever the look-up)."""

    def _setUp(self):
        self.count = 0
        engine = db_api.get_engine(database='api')
        sa.event.listen(engine, 'before_cursor_execute', self._seen)
        self.addCleanup(sa.event.remove, engine, 'before_cursor_execute',
                        self._seen)

    def _seen(self, _conn, _cursor, statement, *_args):
        if (statement.lstrip().upper().startswith('SELECT') and
                'mapping_cache_generation' not in statement):
            self.count += 1
