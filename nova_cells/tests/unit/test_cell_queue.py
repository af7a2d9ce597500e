"""A cell's RabbitMQ queue that refuses, or accepts and never answers.

The brokers are stand-ins on 127.0.0.1 (see ``fixtures.sick_servers``):
the router must answer within ``[cells] message_queue_connect_timeout``
with CellUnavailable naming the cell, never enter oslo.messaging's endless
reconnection, and stop trying once the queue is marked down. No RabbitMQ
server is needed.
"""

import copy
import pickle
from unittest import mock

import oslo_messaging

from nova_cells import cell_health
from nova_cells import cell_queue
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


class TestSendsReport(base.RPCTestCase):
    """Messages on a queue that passed its first check report too (the
    real broker dying under a client: functional/test_queue_failures_rabbit).
    """

    def setUp(self):
        super().setUp()
        self.flags(failure_threshold=2, down_cell_retry_interval=3600,
                   group='cells')
        cell_health.BREAKERS.reset()
        self.addCleanup(cell_health.BREAKERS.reset)
        self.router = self.make_router()
        self.cell = cells_fixture.FakeCell(
            uuid='cell1', database_connection='sqlite://',
            transport_url='fake://cell1/')
        self.serve('cell1', self.cell)
        self.ctxt = self.targeted(self.cell)

    def breaker(self):
        return cell_health.BREAKERS.find(self.ctxt.mq_connection)

    def undeliverable(self):
        client = self.router.client(self.ctxt)
        return mock.patch.object(
            client._client, 'cast', side_effect=(
                oslo_messaging.MessageDeliveryFailure(
                    'Unable to connect to AMQP server on 127.0.0.1:1 after '
                    '0 tries: [Errno 111] Connection refused')))

    def cast(self):
        self.router.client(self.ctxt).cast(self.ctxt, 'record', payload='x')

    def test_a_send_that_cannot_reach_the_broker_counts(self):
        self.cast()
        with self.undeliverable():
            error = self.assertRaises(exception.CellUnavailable, self.cast)
        self.assertIn('cell1', str(error))
        self.assertIn('Connection refused', str(error))
        self.assertEqual(1, self.breaker().failures)
        # Checked again before the next message.
        self.assertFalse(self.breaker().verified)

    def test_a_message_that_went_through_ends_a_run_of_failures(self):
        self.cast()
        # A failure counted by another thread's send.
        self.breaker().failed('cannot reach its message queue')
        self.assertTrue(self.breaker().verified)
        self.cast()
        self.assertEqual(0, self.breaker().failures)

    def test_an_error_raised_by_the_server_proves_the_queue_answered(self):
        self.cast()
        self.breaker().failed('cannot reach its message queue')
        client = self.router.client(self.ctxt)
        # How a real driver hands back what the server raised (the fake
        # one re-raises the server's exception object itself).
        with mock.patch.object(client._client, 'call', side_effect=(
                oslo_messaging.RemoteError('ValueError', 'bad input'))):
            self.assertRaises(oslo_messaging.RemoteError, client.call,
                              self.ctxt, 'whoami')
        self.assertEqual(0, self.breaker().failures)

    def test_a_servers_own_delivery_failure_is_not_the_queues(self):
        self.cast()
        client = self.router.client(self.ctxt)
        remote = type('MessageDeliveryFailure_Remote',
                      (oslo_messaging.MessageDeliveryFailure,), {})
        remote.__module__ = 'oslo_messaging.exceptions_Remote'
        with mock.patch.object(client._client, 'cast',
                               side_effect=remote('from the server')):
            self.assertRaises(remote, self.cast)
        self.assertEqual(0, self.breaker().failures)
        self.assertTrue(self.breaker().verified)

    def test_failed_sends_mark_the_queue_down(self):
        self.cast()
        for _ in range(2):
            with self.undeliverable():
                self.assertRaises(exception.CellUnavailable, self.cast)
        self.assertTrue(self.breaker().is_down)
        error = self.assertRaises(exception.CellUnavailable,
                                  self.router.client, self.ctxt)
        self.assertIn('2 times in a row', str(error))

    def test_cell_clients_retry_a_bounded_number_of_times(self):
        self.flags(message_queue_retries=3, group='cells')
        self.assertEqual(3, self.router.client(self.ctxt).retry)
        own = self.make_router(retry=0)
        self.assertEqual(0, own.client(self.ctxt).retry)
        self.flags(message_queue_retries=-1, group='cells')
        self.assertIsNone(self.make_router().client(self.ctxt).retry)


class TestReportingClientAttributes(base.TestCase):
    """Attributes not set on the wrapper are the wrapped client's; an
    instance made without ``__init__`` (copy, unpickling) has none yet."""

    def setUp(self):
        super().setUp()
        self.wrapped = mock.Mock(spec=['transport', 'target', 'cast'])
        self.client = cell_queue.ReportingClient(self.wrapped, 'key', 'cell1')

    def test_an_instance_without_its_client_says_no_such_attribute(self):
        bare = cell_queue.ReportingClient.__new__(cell_queue.ReportingClient)
        self.assertRaises(AttributeError, getattr, bare, 'target')
        self.assertFalse(hasattr(bare, '_client'))

    def test_a_copy_still_reads_through_to_the_client(self):
        copied = copy.copy(self.client)
        self.assertIs(self.wrapped.target, copied.target)
        self.assertEqual('cell1', copied._cell)

    def test_a_pickled_client_comes_back_reading_through(self):
        # Unpickling builds the wrapper with __new__ and asks it for
        # __setstate__ before its attributes are set.
        rebuilt = pickle.loads(pickle.dumps(
            cell_queue.ReportingClient(_PlainClient(), 'key', 'cell1')))
        self.assertEqual('cell1', rebuilt._cell)
        self.assertEqual('topic', rebuilt.target)


class _PlainClient:
    """A client that can be pickled (a Mock cannot)."""

    transport = None
    target = 'topic'
