"""Every failure to reach a cell's message queue counts, not only the first.

A real RabbitMQ (127.0.0.1:5672, the vhosts of ``.ci/run``) reached through
a relay this test can cut and restore (``sick_servers.ForwardingPort``): the
queue is checked and used, then the broker "dies" (relayed connections
dropped, the port refusing) and comes back. The cell's server connects to
the broker directly, so only the client's path is cut.
"""

import threading

import oslo_messaging

from nova_cells import cell_health
from nova_cells import context
from nova_cells import exception
from nova_cells import rpc
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import rpc as rpc_fixture
from nova_cells.tests.fixtures import sick_servers

PASSWORD = 'guest'


class TestQueueFailuresAfterTheFirstCheck(base.TestCase):

    def setUp(self):
        super().setUp()
        rpc_fixture.require_rabbit()
        rpc_fixture.configure_fast_rabbit(self.conf_fixture)
        self.flags(message_queue_connect_timeout=2, failure_threshold=2,
                   down_cell_retry_interval=3600, group='cells')
        self.rpc = self.useFixture(rpc_fixture.RPCFixture(
            self.conf_fixture,
            default_url=rpc_fixture.rabbit_url(
                rpc_fixture.RABBIT_DEFAULT_VHOST),
            transport_factory=rpc_fixture.real_transport))
        cell_health.BREAKERS.reset()
        self.addCleanup(cell_health.BREAKERS.reset)
        vhost = rpc_fixture.RABBIT_CELL_VHOSTS[0]
        self.relay = self.useFixture(sick_servers.ForwardingPort(
            (rpc_fixture.RABBIT_HOST, rpc_fixture.RABBIT_PORT)))
        self.cell = cells_fixture.FakeCell(
            'rabbit://guest:%s@%s:%d/%s' % (
                PASSWORD, sick_servers.HOST, self.relay.port, vhost),
            uuid='relayed-cell')
        self.topic = rpc_fixture.unique_topic()
        # The server for the cell's vhost, connected to the broker itself.
        serving = context.get_admin_context()
        context.set_target_cell(serving, cells_fixture.FakeCell(
            rpc_fixture.rabbit_url(vhost)))
        self.endpoint = rpc_fixture.RecordingEndpoint('cell')
        self.useFixture(rpc_fixture.ServerFixture(
            oslo_messaging.Target(topic=self.topic, server='host1'),
            [self.endpoint], context=serving))
        # One try per send: a dead broker fails the send at once.
        self.router = rpc.ClientRouter(rpc.get_client(
            oslo_messaging.Target(topic=self.topic, version='1.0'),
            timeout=5, retry=0))

    def cast(self):
        with context.target_cell(context.get_admin_context(),
                                 self.cell) as cctxt:
            self.router.client(cctxt).cast(cctxt, 'record', payload='x')

    def breaker(self):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, self.cell)
        return cell_health.BREAKERS.find(ctxt.mq_connection)

    def test_each_failed_send_counts_and_a_sent_message_resets(self):
        self.cast()  # checked, then used
        self.assertEqual(0, self.breaker().failures)

        self.relay.cut()
        error = self.assertRaises(exception.CellUnavailable, self.cast)
        self.assertIn('relayed-cell', str(error))
        self.assertIn('message queue', str(error))
        self.assertNotIn('guest:guest', str(error))
        self.assertEqual(1, self.breaker().failures)
        self.assertFalse(self.breaker().is_down)

        self.relay.restore()
        self.cast()
        self.assertEqual(0, self.breaker().failures)

        self.relay.cut()
        for _ in range(2):
            self.assertRaises(exception.CellUnavailable, self.cast)
        self.assertTrue(self.breaker().is_down)
        # Refused at once now, without touching the network.
        self.relay.restore()
        relayed = self.relay.accepted
        error = self.assertRaises(exception.CellUnavailable, self.cast)
        self.assertIn('2 times in a row', str(error))
        self.assertEqual(relayed, self.relay.accepted)

    def test_a_client_without_retry_still_gets_an_answer(self):
        # oslo.messaging's default, retry=None, would retry for ever;
        # a cell client retries [cells] message_queue_retries times.
        self.flags(message_queue_retries=1, group='cells')
        self.router = rpc.ClientRouter(rpc.get_client(
            oslo_messaging.Target(topic=self.topic, version='1.0'),
            timeout=5))
        self.cast()
        self.relay.cut()
        outcome = []

        def cast():
            try:
                self.cast()
            except Exception as error:
                outcome.append(error)

        worker = threading.Thread(target=cast, daemon=True)
        worker.start()
        # Generous: the bound is the retries, not this join.
        worker.join(120)
        self.assertFalse(worker.is_alive())
        self.assertIsInstance(outcome[0], exception.CellUnavailable)
        self.assertEqual(1, self.breaker().failures)
