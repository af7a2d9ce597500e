"""Per-cell RPC on a real RabbitMQ: one virtual host per cell.

Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) with the virtual hosts in
``RABBIT_VHOSTS`` (``.ci/run`` creates them). Without them the tests
skip with the commands to run; with ``CI=true`` they fail instead.

Each cell's server and the default bus's server (its own vhost) use the same
topic and server name, so only the virtual host a message is published to
can keep it in its cell. Servers handle messages one at a time in arrival
order, so once a call to a server returns, every cast that reached it
earlier has been handled: "nothing arrived" needs no sleep.
"""

import logging

import fixtures
import oslo_messaging

from nova_cells import context
from nova_cells import exception
from nova_cells import rpc
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import rpc as rpc_fixture

CELL1_VHOST, CELL2_VHOST = rpc_fixture.RABBIT_CELL_VHOSTS


class TestRabbitRouting(base.TestCase):

    def setUp(self):
        super().setUp()
        rpc_fixture.require_rabbit()
        rpc_fixture.configure_fast_rabbit(self.conf_fixture)
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.rpc = self.useFixture(rpc_fixture.RPCFixture(
            self.conf_fixture,
            default_url=rpc_fixture.rabbit_url(
                rpc_fixture.RABBIT_DEFAULT_VHOST),
            transport_factory=rpc_fixture.real_transport))
        self.context = context.get_admin_context()
        self.topic = rpc_fixture.unique_topic()
        self.cell1 = cells_fixture.FakeCell(
            rpc_fixture.rabbit_url(CELL1_VHOST))
        self.cell2 = cells_fixture.FakeCell(
            rpc_fixture.rabbit_url(CELL2_VHOST))
        self.endpoints = {'cell1': self.serve('cell1', self.cell1),
                          'cell2': self.serve('cell2', self.cell2),
                          'default': self.serve('default', None)}
        # Short timeout and bounded retries: a broken broker fails fast.
        self.router = rpc.ClientRouter(rpc.get_client(
            oslo_messaging.Target(topic=self.topic, version='1.0'),
            timeout=5, retry=1))

    def serve(self, label, cell):
        endpoint = rpc_fixture.RecordingEndpoint(label)
        serving = None
        if cell is not None:
            serving = context.get_admin_context()
            context.set_target_cell(serving, cell)
        self.useFixture(rpc_fixture.ServerFixture(
            oslo_messaging.Target(topic=self.topic, server='host1'),
            [endpoint], context=serving))
        return endpoint

    def call(self, cell):
        with context.target_cell(self.context, cell) as cctxt:
            return self.router.client(cctxt).call(cctxt, 'whoami')

    def cast(self, cell, payload):
        with context.target_cell(self.context, cell) as cctxt:
            self.router.client(cctxt).cast(cctxt, 'record', payload=payload)

    def call_each_vhost(self):
        for cell in (self.cell1, self.cell2, None):
            self.call(cell)

    def casts(self):
        return {label: endpoint.casts
                for label, endpoint in self.endpoints.items()}

    def test_call_round_trip_per_cell(self):
        for _ in range(3):
            answer = self.call(self.cell1)
            self.assertEqual(('cell1', self.cell1.uuid),
                             (answer['label'], answer['cell_uuid']))
            answer = self.call(self.cell2)
            self.assertEqual(('cell2', self.cell2.uuid),
                             (answer['label'], answer['cell_uuid']))
            self.assertEqual('default', self.call(None)['label'])

    def test_cast_to_one_vhost_is_never_consumed_from_another(self):
        self.cast(self.cell1, 'for-cell1')
        self.cast(self.cell2, 'for-cell2')
        self.call_each_vhost()
        self.assertEqual({'cell1': ['for-cell1'], 'cell2': ['for-cell2'],
                          'default': []}, self.casts())

    def test_untargeted_cast_reaches_the_default_vhost_only(self):
        self.cast(None, 'for-default')
        self.call_each_vhost()
        self.assertEqual({'cell1': [], 'cell2': [],
                          'default': ['for-default']}, self.casts())

    def test_cell0_is_refused_and_nothing_is_sent(self):
        cell0 = cells_fixture.FakeCell('none:///')
        with context.target_cell(self.context, cell0) as cctxt:
            self.assertRaises(exception.CellHasNoMessageQueue,
                              self.router.client, cctxt)
        self.call_each_vhost()
        self.assertEqual({'cell1': [], 'cell2': [], 'default': []},
                         self.casts())
        self.assertNotIn('none:///', self.rpc.created_urls)

    def test_wrong_password_fails_fast_and_stays_hidden(self):
        password = 'Wrong-Pa55-never-shown'
        cell = cells_fixture.FakeCell(rpc_fixture.rabbit_url(
            CELL1_VHOST, password=password))
        with context.target_cell(self.context, cell) as cctxt:
            # The queue is checked before its transport is first used;
            # the broker refuses the login at once: no hang.
            error = self.assertRaises(exception.CellUnavailable,
                                      self.router.client, cctxt)
        self.assertIn('AccessRefused', str(error))
        self.assertNotIn(password, str(error))
        self.assertNotIn(password, self.logs.output)
        self.assertEqual([], self.endpoints['cell1'].contexts)
