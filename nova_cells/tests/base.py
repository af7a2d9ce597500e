"""Base classes for nova_cells tests."""

import testtools

from nova_cells import context
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import conf as conf_fixture
from nova_cells.tests.fixtures import database as database_fixture


class TestCase(testtools.TestCase):
    """A test with its own config; no database."""

    def setUp(self):
        super().setUp()
        self.conf_fixture = self.useFixture(conf_fixture.ConfFixture())
        self.conf = self.conf_fixture.conf

    def flags(self, group=None, **overrides):
        self.conf_fixture.config(group=group, **overrides)


class DatabaseTestCase(TestCase):
    """A test with fresh API and local main databases on ``BACKEND``.

    Write a suite once on this class (SQLite); run it on MySQL and
    PostgreSQL through empty subclasses that only set ``BACKEND``.
    """

    BACKEND = backends.SQLITE

    def setUp(self):
        super().setUp()
        self.database = self.useFixture(
            database_fixture.Database(self.conf_fixture, self.BACKEND))
        self.context = context.get_admin_context()

    def cell_database_urls(self, count: int) -> list[str]:
        return self.useFixture(database_fixture.CellDatabases(
            count, self.BACKEND)).urls


class MySQLMixin:
    BACKEND = backends.MYSQL


class PostgreSQLMixin:
    BACKEND = backends.POSTGRESQL
