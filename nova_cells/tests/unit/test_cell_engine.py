"""[cell_database]: cell engines whose connection attempts are bounded.

Driven against a refused port and a listener that accepts and never
answers (both on 127.0.0.1, started here), through the real PyMySQL and
psycopg2 drivers: no database server is needed.
"""

import threading

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells import context
from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import sick_servers

PASSWORD = 'Pl4nted-S3cret'  # noqa: S105 - the secret the tests hunt for

MYSQL_URL = 'mysql+pymysql://nova:%s@127.0.0.1:%%d/nova' % PASSWORD
POSTGRESQL_URL = 'postgresql+psycopg2://nova:%s@127.0.0.1:%%d/nova' % (
    PASSWORD)


def read_in_cell(ctxt):
    with db_api.get_context_manager(ctxt).reader.using(ctxt) as session:
        return session.execute(sa.text('SELECT 1')).scalar()


class CellEngineTestCase(base.RegistryTestCase):

    def target(self, name, url):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid=name, database_connection=url))
        return ctxt


class TestPoolSettings(CellEngineTestCase):

    def test_cell_pool_comes_from_cell_database_not_database(self):
        url = self.cell_database('cell1')
        self.flags(max_pool_size=9, max_overflow=9, pool_timeout=9,
                   connection_recycle_time=9, group='database')
        self.flags(max_pool_size=3, max_overflow=2, pool_timeout=7,
                   group='cell_database')
        self.registry.configure(self.conf)
        pool = db_api.get_engine(context=self.target('cell1', url)).pool
        self.assertIsInstance(pool, sa_pool.QueuePool)
        self.assertEqual(3, pool.size())
        self.assertEqual(2, pool._max_overflow)
        self.assertEqual(7, pool.timeout())
        # [database]'s recycle time is the local database's alone.
        self.assertNotEqual(9, pool._recycle)

    def test_sqlite_cell_busy_timeout_is_the_query_timeout(self):
        url = self.cell_database('cell1')
        self.flags(query_timeout=2.5, group='cell_database')
        self.registry.configure(self.conf)
        ctxt = self.target('cell1', url)
        with db_api.get_context_manager(ctxt).reader.using(ctxt) as session:
            busy = session.execute(sa.text('PRAGMA busy_timeout')).scalar()
        self.assertEqual(2500, busy)


class SickServersMixin:
    """Written once, run through each driver by the classes below."""

    url: str

    def test_refused_port_names_the_cell_and_masks_the_password(self):
        port = self.useFixture(sick_servers.RefusedPort()).port
        self.flags(max_retries=2, retry_interval=0, group='cell_database')
        self.registry.configure(self.conf)
        ctxt = self.target('dead-cell', self.url % port)
        error = self.assertRaises(exception.CellUnavailable,
                                  read_in_cell, ctxt)
        message = str(error)
        self.assertIn('dead-cell', message)
        self.assertIn('after 3 attempts', message)
        self.assertNotIn(PASSWORD, message)
        self.assertNotIn(PASSWORD, repr(error.kwargs))

    def test_silent_listener_fails_without_waiting_for_it(self):
        listener = self.useFixture(sick_servers.SilentListener())
        self.flags(connect_timeout=0.5, group='cell_database')
        self.registry.configure(self.conf)
        ctxt = self.target('hung-cell', self.url % listener.port)
        error = self.assertRaises(exception.CellUnavailable,
                                  read_in_cell, ctxt)
        self.assertIn('hung-cell', str(error))
        self.assertNotIn(PASSWORD, str(error))
        # The client gave up on its own: the listener never let go.
        self.assertEqual(1, listener.accepted)
        self.assertTrue(listener.still_holding())

    def test_retries_come_from_cell_database_not_database(self):
        listener = self.useFixture(sick_servers.SilentListener())
        self.flags(max_retries=5, retry_interval=0, group='database')
        self.flags(connect_timeout=0.5, max_retries=1, retry_interval=0,
                   group='cell_database')
        self.registry.configure(self.conf)
        ctxt = self.target('hung-cell', self.url % listener.port)
        self.assertRaises(exception.CellUnavailable, read_in_cell, ctxt)
        self.assertEqual(2, listener.accepted)
        self.assertTrue(listener.still_holding())

    def test_disposal_never_waits_for_a_call_stuck_connecting(self):
        listener = self.useFixture(sick_servers.SilentListener())
        # No connect timeout: the call stays in the driver until the
        # listener lets go, as it would with a timeout not yet reached.
        self.flags(connect_timeout=0, group='cell_database')
        self.registry.configure(self.conf)
        ctxt = self.target('hung-cell', self.url % listener.port)
        outcome = []

        def stuck_call():
            try:
                read_in_cell(ctxt)
            except Exception as error:
                outcome.append(error)

        worker = threading.Thread(target=stuck_call, daemon=True)
        worker.start()
        self.assertTrue(listener.first_accepted.wait(30))
        # Disposing the stuck cell's pool and reconfiguring the whole
        # registry both return while the worker is still in connect().
        self.registry.dispose_database(ctxt.db_connection)
        self.registry.configure(self.conf)
        self.assertTrue(worker.is_alive())
        self.assertEqual([], outcome)
        listener.release()
        worker.join(30)
        self.assertFalse(worker.is_alive())
        self.assertIsInstance(outcome[0], exception.CellUnavailable)


class TestSickServersPyMySQL(SickServersMixin, CellEngineTestCase):
    url = MYSQL_URL


class TestSickServersPsycopg2(SickServersMixin, CellEngineTestCase):
    url = POSTGRESQL_URL
