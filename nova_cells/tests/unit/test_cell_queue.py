"""A cell's RabbitMQ queue that refuses, or accepts and never answers.

The brokers are stand-ins on 127.0.0.1 (see ``fixtures.sick_servers``):
the router must answer within ``[cells] message_queue_connect_timeout``
with CellUnavailable naming the cell, never enter oslo.messaging's endless
reconnection, and stop trying once the queue is marked down. No RabbitMQ
server is needed.
"""

from nova_cells import cell_health
from nova_cells import exception
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import sick_servers

PASSWORD = 'Pa55-w0rd-never-shown'


class TestSickQueue(base.RPCTestCase):

    def setUp(self):
        super().setUp()
        self.flags(message_queue_connect_timeout=0.5, failure_threshold=2,
                   down_cell_retry_interval=3600, group='cells')
        cell_health.BREAKERS.reset()
        self.addCleanup(cell_health.BREAKERS.reset)
        self.router = self.make_router()

    def cell(self, name, port):
        return cells_fixture.FakeCell(
            uuid=name, database_connection='sqlite://',
            transport_url='rabbit://guest:%s@127.0.0.1:%d/' % (PASSWORD, port))

    def test_refused_queue_names_the_cell_and_masks_the_password(self):
        port = self.useFixture(sick_servers.RefusedPort()).port
        ctxt = self.targeted(self.cell('dead-queue', port))
        error = self.assertRaises(exception.CellUnavailable,
                                  self.router.client, ctxt)
        self.assertIn('dead-queue', str(error))
        self.assertIn('message queue', str(error))
        self.assertNotIn(PASSWORD, str(error))

    def test_hung_queue_fails_then_is_refused_without_connecting(self):
        listener = self.useFixture(sick_servers.SilentListener())
        ctxt = self.targeted(self.cell('hung-queue', listener.port))
        for _ in range(2):
            self.assertRaises(exception.CellUnavailable,
                              self.router.client, ctxt)
        self.assertTrue(listener.still_holding())
        self.assertEqual(2, listener.accepted)
        error = self.assertRaises(exception.CellUnavailable,
                                  self.router.client, ctxt)
        self.assertIn('2 times in a row', str(error))
        self.assertEqual(2, listener.accepted)

    def test_queue_and_database_are_judged_separately(self):
        listener = self.useFixture(sick_servers.SilentListener())
        cell = self.cell('half-sick', listener.port)
        for _ in range(2):
            self.assertRaises(exception.CellUnavailable,
                              self.router.client, self.targeted(cell))
        # The queue is down; the same cell's database is not.
        self.assertFalse(cell_health.BREAKERS.find(
            self.targeted(cell).db_connection))
        self.assertIsNone(
            cell_health.check(self.targeted(cell).db_connection))

    def test_other_drivers_are_not_checked(self):
        cell = cells_fixture.FakeCell(uuid='cell1',
                                      database_connection='sqlite://',
                                      transport_url='fake://cell1/')
        self.serve('cell1', cell)
        ctxt = self.targeted(cell)
        self.assertEqual('cell1', self.router.client(ctxt).call(
            ctxt, 'whoami')['label'])
