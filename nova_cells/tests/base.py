"""Base classes for nova_cells tests."""

import unittest

import fixtures
import testtools

from nova_cells import context
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import conf as conf_fixture
from nova_cells.tests.fixtures import database as database_fixture


class SkippingFixturesMixin:
    """Let a fixture skip the test it is used by.

    fixtures wraps whatever a fixture's setUp raises, SkipTest included, in
    MultipleExceptions, which testtools reports as an error. A backend
    fixture that finds no server must skip the test (fail only in CI, which
    :func:`backends.skip_or_fail` decides), so the skip is unwrapped here.
    """

    def useFixture(self, fixture):
        try:
            return super().useFixture(fixture)
        except fixtures.MultipleExceptions as error:
            skip = _find_skip(error)
            if skip is not None:
                raise skip from None
            raise


def _find_skip(error: BaseException) -> unittest.SkipTest | None:
    """The SkipTest inside (possibly nested) MultipleExceptions, if any:
    a fixture used by a fixture wraps once per level."""
    if isinstance(error, unittest.SkipTest):
        return error
    if isinstance(error, fixtures.MultipleExceptions):
        for _type, value, _traceback in error.args:
            found = _find_skip(value)
            if found is not None:
                return found
    return None


class TestCase(SkippingFixturesMixin, testtools.TestCase):
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
