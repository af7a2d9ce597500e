"""PyMySQL connections of cells share one preferred-mode TLS context, and a
cell facade starts without reading ``[database]``.

No server needed: connections are built with ``defer_connect`` or tried
against a refused port on 127.0.0.1.
"""

import ssl
from unittest import mock

import pymysql
import sqlalchemy as sa
from oslo_db.sqlalchemy import enginefacade

from nova_cells import context
from nova_cells import exception
from nova_cells.db import cell_engine
from nova_cells.db import mysql_tls
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import sick_servers

MYSQL_URL = 'mysql+pymysql://nova:secret@127.0.0.1:%d/nova'


def _context_settings(context_: ssl.SSLContext) -> tuple:
    return (context_.protocol, context_.verify_mode, context_.check_hostname,
            context_.verify_flags, context_.options, context_.minimum_version)


class TestSharedContext(base.TestCase):

    def test_connections_without_ssl_options_share_one_context(self):
        first = mysql_tls._Connection(defer_connect=True)
        second = mysql_tls._Connection(defer_connect=True)
        self.assertIs(first.ctx, second.ctx)
        self.assertIs(first.ctx, mysql_tls.preferred_context())
        # Still PyMySQL's preferred mode: TLS if the server offers it.
        self.assertTrue(first.ssl)
        self.assertFalse(first._ssl_required)

    def test_shared_context_is_the_one_pymysql_would_build(self):
        own = pymysql.connections.Connection(defer_connect=True).ctx
        self.assertEqual(_context_settings(own),
                         _context_settings(mysql_tls.preferred_context()))
        self.assertEqual(ssl.CERT_NONE, own.verify_mode)

    def test_ssl_options_of_the_url_get_their_own_context(self):
        connection = mysql_tls._Connection(defer_connect=True,
                                           ssl_verify_cert=True)
        self.assertIsNot(mysql_tls.preferred_context(), connection.ctx)
        self.assertEqual(ssl.CERT_REQUIRED, connection.ctx.verify_mode)
        self.assertTrue(connection._ssl_required)


class TestCellConnections(base.RegistryTestCase):

    def read(self, port):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='dead-cell', database_connection=MYSQL_URL % port))
        with db_api.get_context_manager(ctxt).reader.using(ctxt) as session:
            session.execute(sa.text('SELECT 1'))

    def test_attempts_build_no_tls_context(self):
        port = self.useFixture(sick_servers.RefusedPort()).port
        self.flags(max_retries=2, retry_interval=0, group='cell_database')
        self.registry.configure(self.conf)
        mysql_tls.preferred_context()
        with mock.patch.object(ssl, 'create_default_context',
                               wraps=ssl.create_default_context) as built:
            error = self.assertRaises(exception.CellUnavailable, self.read,
                                      port)
        self.assertIn('after 3 attempts', str(error))
        self.assertEqual(0, built.call_count)

    def test_cell_facade_starts_without_reading_database_options(self):
        port = self.useFixture(sick_servers.RefusedPort()).port
        self.registry.configure(self.conf)

        class Unreadable:
            def __getattr__(self, name):
                raise AssertionError('read [database]: %s' % name)

        # oslo.db reads cfg.CONF when a factory starts with no
        # configuration given; a cell facade's must not.
        with mock.patch.object(enginefacade.cfg, 'CONF', Unreadable()):
            self.assertRaises(exception.CellUnavailable, self.read, port)


class TestLoadDriver(base.TestCase):

    def test_mysql_builds_the_shared_context_and_connects_nowhere(self):
        with mock.patch.object(mysql_tls, '_preferred', None), \
                mock.patch('socket.create_connection') as connect:
            cell_engine.load_driver(MYSQL_URL % 1)
            self.assertIsNotNone(mysql_tls._preferred)
        connect.assert_not_called()

    def test_other_backends_load_their_driver_only(self):
        with mock.patch.object(mysql_tls, 'preferred_context') as built:
            cell_engine.load_driver('sqlite://')
            cell_engine.load_driver(
                'postgresql://nova:secret@127.0.0.1:1/nova')
        built.assert_not_called()
