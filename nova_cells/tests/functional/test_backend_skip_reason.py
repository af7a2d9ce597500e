"""The reason a backend test skips says what is wrong: no server, or a
server that is up without the ``openstack_citest`` user or database."""

import socket

import testtools

from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base


def _refused_port() -> int:
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more
    return port


class TestSkipReason(base.SkippingFixturesMixin, testtools.TestCase):

    def test_no_server(self):
        reason = backends.unavailable_reason(
            'mysql+pymysql://openstack_citest:openstack_citest@127.0.0.1:%d'
            '/openstack_citest' % _refused_port())
        self.assertIn('no server answers on 127.0.0.1', reason)

    def _server_up_reason(self, kind: str, url: str) -> str:
        backends.require_backend(kind)  # skips (fails in CI) if no server
        return backends.unavailable_reason(url)

    def test_mysql_up_without_the_user(self):
        reason = self._server_up_reason(
            backends.MYSQL,
            'mysql+pymysql://nc_no_such_user:pw@127.0.0.1:3306/'
            'openstack_citest')
        self.assertIn('is up but refused user', reason)
        self.assertIn('nc_no_such_user', reason)
        self.assertNotIn('Could not connect', reason)

    def test_postgresql_up_without_the_database(self):
        reason = self._server_up_reason(
            backends.POSTGRESQL,
            'postgresql+psycopg2://openstack_citest:openstack_citest@'
            '127.0.0.1:5432/nc_no_such_database')
        self.assertIn('is up but refused', reason)
        self.assertIn('nc_no_such_database', reason)
