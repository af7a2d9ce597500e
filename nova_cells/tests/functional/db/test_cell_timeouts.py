"""A statement that never returns, on each real backend, ends within
``[cell_database] query_timeout`` with CellUnavailable naming the cell.

MySQL sleeps server-side (PyMySQL's read timeout ends the wait),
PostgreSQL sleeps (``statement_timeout`` cancels it), and SQLite waits for
a lock another connection holds (the busy timeout ends the wait).
"""

import sqlite3
import time

import sqlalchemy as sa

from nova_cells import cell_health
from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import database as database_fixture

# A statement the cell would take this long to answer; the timeout is 1 s.
NEVER = 60




class QueryTimeoutMixin:

    BACKEND: str
    SLEEP: str

    def setUp(self):
        super().setUp()
        self.flags(query_timeout=1, group='cell_database')
        self.flags(failure_threshold=2, down_cell_retry_interval=3600,
                   group='cells')
        registry = connections.get_registry()
        registry.configure(self.conf)
        self.addCleanup(registry.dispose_all)
        url = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='slow')).url
        self.ctxt = context.get_admin_context()
        context.set_target_cell(self.ctxt, cells_fixture.FakeCell(
            uuid='slow-cell', database_connection=url))

    def run_in_cell(self, statement):
        manager = db_api.get_context_manager(self.ctxt)
        with manager.writer.using(self.ctxt) as session:
            return session.execute(sa.text(statement)).scalar()

    def test_never_returning_statement_ends_naming_the_cell(self):
        started = time.monotonic()
        error = self.assertRaises(exception.CellUnavailable,
                                  self.run_in_cell, self.SLEEP % NEVER)
        self.assertIn('slow-cell', str(error))
        # Not a bound on our speed: only that the sleep was not waited out.
        self.assertLess(time.monotonic() - started, NEVER / 2)
        # The cell answers quick statements as before...
        self.assertEqual(1, self.run_in_cell('SELECT 1'))
        # ...and a second timeout in a row marks it down.
        self.assertRaises(exception.CellUnavailable, self.run_in_cell,
                          self.SLEEP % NEVER)
        self.assertRaises(exception.CellUnavailable, self.run_in_cell,
                          self.SLEEP % NEVER)
        self.assertTrue(cell_health.any_down())


class TestMySQLQueryTimeout(QueryTimeoutMixin, base.TestCase):
    BACKEND = backends.MYSQL
    SLEEP = 'SELECT SLEEP(%d)'


class TestPostgreSQLQueryTimeout(QueryTimeoutMixin, base.TestCase):
    BACKEND = backends.POSTGRESQL
    SLEEP = 'SELECT pg_sleep(%d)'


class TestSQLiteLockedDatabase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.flags(query_timeout=0.5, group='cell_database')
        registry = connections.get_registry()
        registry.configure(self.conf)
        self.addCleanup(registry.dispose_all)
        self.url = self.useFixture(database_fixture.SchemaDatabase(
            database_fixture.MAIN, name='locked')).url
        self.ctxt = context.get_admin_context()
        context.set_target_cell(self.ctxt, cells_fixture.FakeCell(
            uuid='locked-cell', database_connection=self.url))

    def test_write_to_a_locked_database_ends_naming_the_cell(self):
        holder = sqlite3.connect(sa.engine.make_url(self.url).database,
                                 isolation_level=None)
        self.addCleanup(holder.close)
        holder.execute('BEGIN EXCLUSIVE')
        error = self.assertRaises(exception.CellUnavailable,
                                  db_api.instance_create, self.ctxt,
                                  {'host': 'h'})
        self.assertIn('locked-cell', str(error))
        # The lock was never given up: the write did not wait it out.
        self.assertTrue(holder.in_transaction)
        holder.execute('COMMIT')
        db_api.instance_create(self.ctxt, {'host': 'h'})
