"""Per-cell RPC over oslo.messaging's fake driver, one bus per URL.

Every cell in these tests runs a server with the same topic and server
name, so the only thing that can keep a message in its cell is the bus it
is sent on. Servers handle messages one at a time in arrival order (see
``ServerFixture``): once a call to a server returns, every cast sent to it
earlier has been handled, so "nothing arrived" is asserted without sleeps.
"""

import logging
import threading
import time
import urllib.parse

import fixtures
import oslo_messaging
from oslo_config import cfg
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

from nova_cells import cell_queue
from nova_cells import conf
from nova_cells import config
from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells import rpc
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import rpc as rpc_fixture

PASSWORD = 'Pa55-w0rd-never-shown'


class TestInitAndCleanup(base.RPCTestCase):

    def test_init_makes_no_transport_until_first_use(self):
        self.assertEqual([], self.rpc.created_urls)
        rpc.get_client(oslo_messaging.Target(topic=self.topic))
        self.assertEqual([self.DEFAULT_URL], self.rpc.created_urls)

    def test_init_twice_keeps_the_default_transport(self):
        first = rpc.get_transport()
        rpc.init(self.conf)
        self.assertIs(first, rpc.get_transport())
        self.assertEqual([self.DEFAULT_URL], self.rpc.created_urls)

    def test_cleanup_is_idempotent_and_requires_init_again(self):
        first = rpc.get_transport()
        rpc.cleanup()
        rpc.cleanup()
        error = self.assertRaises(exception.RPCNotInitialized,
                                  rpc.get_transport)
        self.assertIn('rpc.init(conf)', str(error))
        rpc.init(self.conf)
        self.assertIsNot(first, rpc.get_transport())

    def test_parse_args_initializes_rpc_without_a_transport(self):
        rpc.cleanup()
        self.conf.clear()  # parse_args registers CLI options: unparse
        config.parse_args(['nova-cells'], default_config_files=[],
                          configure_logging=False)
        self.assertEqual([], self.rpc.created_urls)
        self.flags(transport_url='fake://after-parse/')
        rpc.get_transport()
        self.assertEqual(['fake://after-parse/'], self.rpc.created_urls)

    def test_default_transport_follows_transport_url(self):
        self.flags(transport_url='fake://moved/')
        rpc.get_transport()
        self.assertEqual(['fake://moved/'], self.rpc.created_urls)

    def test_works_with_a_private_config_object(self):
        private = cfg.ConfigOpts()
        conf.register_all(private)
        private([], project='nova_cells', default_config_files=[])
        private.set_override('transport_url', 'fake://private/')
        registry = connections.ConnectionRegistry(
            private, transport_factory=rpc_fixture.isolated_fake_transport)
        self.useFixture(fixtures.MockPatchObject(
            connections, 'REGISTRY', registry))
        self.addCleanup(registry.dispose_all)
        rpc.init(private)
        self.addCleanup(rpc.cleanup)
        endpoint = self.serve('private')
        client = self.make_router().default_client
        self.assertIs(private, client.transport.conf)
        self.assertEqual('private',
                         client.call(self.context, 'whoami')['label'])
        self.assertEqual(1, len(endpoint.contexts))

    def test_public_api_is_pinned(self):
        self.assertEqual(
            ['ClientRouter', 'ObjectSerializer', 'RequestContextSerializer',
             'cleanup', 'get_client', 'get_server', 'get_transport',
             'init'],
            sorted(rpc.__all__))


class TestRouting(base.RPCTestCase):
    """Cells A and B and the default bus, each with a server 'host1'."""

    def setUp(self):
        super().setUp()
        self.cell_a = cells_fixture.FakeCell('fake://cell-a/')
        self.cell_b = cells_fixture.FakeCell('fake://cell-b/')
        self.endpoints = {
            'a': self.serve('a', self.cell_a),
            'b': self.serve('b', self.cell_b),
            'default': self.serve('default'),
        }
        self.router = self.make_router()

    def call_each_bus(self):
        """A call to every server: after it, their earlier casts are in."""
        answers = {}
        for cell in (self.cell_a, self.cell_b, None):
            with context.target_cell(self.context, cell) as cctxt:
                answer = self.router.client(cctxt).call(cctxt, 'whoami')
                answers[answer['label']] = answer
        return answers

    def casts(self):
        return {label: endpoint.casts
                for label, endpoint in self.endpoints.items()}

    def test_call_is_answered_by_the_targeted_cell(self):
        for _ in range(3):
            for cell, label in ((self.cell_a, 'a'), (self.cell_b, 'b'),
                                (None, 'default')):
                with context.target_cell(self.context, cell) as cctxt:
                    answer = self.router.client(cctxt).call(cctxt,
                                                            'whoami')
                self.assertEqual(label, answer['label'])

    def test_cast_reaches_only_the_targeted_cell(self):
        with context.target_cell(self.context, self.cell_a) as cctxt:
            self.router.client(cctxt).cast(cctxt, 'record', payload='x')
        self.call_each_bus()
        self.assertEqual({'a': ['x'], 'b': [], 'default': []},
                         self.casts())

    def test_untargeted_context_reaches_the_default_bus(self):
        client = self.router.client(self.context)
        self.assertIs(self.router.default_client, client)
        client.cast(self.context, 'record', payload='y')
        self.call_each_bus()
        self.assertEqual({'a': [], 'b': [], 'default': ['y']},
                         self.casts())

    def test_server_targets_incoming_contexts_at_its_cell(self):
        answers = self.call_each_bus()
        self.assertEqual(self.cell_a.uuid, answers['a']['cell_uuid'])
        self.assertEqual(self.cell_b.uuid, answers['b']['cell_uuid'])
        self.assertIsNone(answers['default']['cell_uuid'])
        seen = self.endpoints['a'].contexts[-1]
        self.assertEqual(self.targeted(self.cell_a).db_connection,
                         seen.db_connection)

    def test_clients_are_reused_per_transport(self):
        with context.target_cell(self.context, self.cell_a) as first:
            client = self.router.client(first)
        with context.target_cell(self.context, self.cell_a) as second:
            self.assertIs(client, self.router.client(second))
        with context.target_cell(self.context, self.cell_b) as other:
            self.assertIsNot(client, self.router.client(other))
        self.assertEqual(2, self.router.cached_client_count())

    def test_cells_sharing_a_url_share_transport_and_client(self):
        twin = cells_fixture.FakeCell(self.cell_a.transport_url)
        a_client = self.router.client(self.targeted(self.cell_a))
        twin_context = self.targeted(twin)
        self.assertIs(a_client, self.router.client(twin_context))
        answer = a_client.call(twin_context, 'whoami')
        self.assertEqual('a', answer['label'])
        self.assertEqual(1, self.rpc.created_urls.count(
            self.cell_a.transport_url))

    def test_cell_clients_copy_the_default_client(self):
        router = self.make_router(version_cap='1.5', timeout=3, retry=2)
        cctxt = self.targeted(self.cell_a)
        client = router.client(cctxt)
        default = router.default_client
        # oslo.messaging's client, wrapped to report to the queue's state.
        self.assertIsInstance(client, cell_queue.ReportingClient)
        self.assertIsInstance(client._client, oslo_messaging.RPCClient)
        self.assertEqual(
            (default.target, '1.5', 3, 2, default.serializer),
            (client.target, client.version_cap, client.timeout,
             client.retry, client.serializer))
        prepared = client.prepare(server='host1', version='1.2')
        self.assertEqual('a', prepared.call(cctxt, 'whoami')['label'])
        self.assertRaises(oslo_messaging.RPCVersionCapError,
                          client.prepare(version='1.6').cast, cctxt,
                          'record', payload='too new')

    def test_disposed_transport_is_replaced_on_next_use(self):
        cctxt = self.targeted(self.cell_a)
        old = self.router.client(cctxt)
        self.assertTrue(self.registry.dispose_transport(cctxt.mq_connection))
        new = self.router.client(cctxt)
        self.assertIsNot(old, new)
        self.assertIsNot(old.transport, new.transport)
        self.assertEqual(2, self.rpc.created_urls.count(
            self.cell_a.transport_url))
        # A fake bus dies with its transport; a new server joins the new
        # one, as a service would reconnect to a real broker.
        self.serve('a-again', self.cell_a)
        self.assertEqual('a-again', new.call(cctxt, 'whoami')['label'])

    def test_changed_cell_url_is_routed_to_the_new_bus(self):
        self.cell_a.transport_url = 'fake://cell-a-moved/'
        moved = self.serve('a-moved', self.cell_a)
        with context.target_cell(self.context, self.cell_a) as cctxt:
            self.router.client(cctxt).cast(cctxt, 'record', payload='z')
            answer = self.router.client(cctxt).call(cctxt, 'whoami')
        self.assertEqual('a-moved', answer['label'])
        self.call_each_bus()
        self.assertEqual(['z'], moved.casts)
        self.assertEqual({'a': [], 'b': [], 'default': []}, self.casts())

    def test_concurrent_first_use_builds_one_client(self):
        cell = cells_fixture.FakeCell('fake://cell-new/')
        start = threading.Barrier(32)
        clients = []
        built = []
        real_get_rpc_client = oslo_messaging.get_rpc_client

        def slow_get_rpc_client(*args, **kwargs):
            # Widen the window in which a second builder could slip in.
            built.append(args)
            time.sleep(0.02)
            return real_get_rpc_client(*args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(
            oslo_messaging, 'get_rpc_client', slow_get_rpc_client))

        def first_use():
            cctxt = self.targeted(cell)
            start.wait()
            clients.append(self.router.client(cctxt))

        threads = [threading.Thread(target=first_use) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(32, len(clients))
        self.assertEqual(1, len({id(client) for client in clients}))
        self.assertEqual(1, len(built))
        self.assertEqual(1, self.rpc.created_urls.count(cell.transport_url))


class TestCellZero(base.RPCTestCase):
    """cell0 has no message queue: refuse, never fall back."""

    def setUp(self):
        super().setUp()
        self.cell_a = cells_fixture.FakeCell('fake://cell-a/')
        self.endpoints = [self.serve('a', self.cell_a),
                          self.serve('default')]
        self.router = self.make_router()

    def assert_nothing_sent(self):
        for cell in (self.cell_a, None):
            with context.target_cell(self.context, cell) as cctxt:
                self.router.client(cctxt).call(cctxt, 'whoami')
        self.assertEqual([[], []], [e.casts for e in self.endpoints])
        self.assertNotIn('none:///', self.rpc.created_urls)

    def test_call_and_cast_to_cell0_are_refused(self):
        cell0 = cells_fixture.FakeCell(
            'none:///', uuid='00000000-0000-0000-0000-000000000000')
        with context.target_cell(self.context, cell0) as cctxt:
            self.assertEqual(connections.NO_TRANSPORT_KEY,
                             cctxt.mq_connection)
            error = self.assertRaises(exception.CellHasNoMessageQueue,
                                      self.router.client, cctxt)
        self.assertIn(cell0.uuid, str(error))
        self.assertIn('refused', str(error))
        self.assertIsInstance(error, exception.CellNotTargetable)
        self.assert_nothing_sent()

    def test_cell_without_transport_url_is_refused(self):
        cell = cells_fixture.FakeCell(None)
        with context.target_cell(self.context, cell) as cctxt:
            self.assertRaises(exception.CellHasNoMessageQueue,
                              self.router.client, cctxt)
        self.assert_nothing_sent()

    def test_no_server_for_cell0(self):
        cell0 = cells_fixture.FakeCell('none:///')
        self.assertRaises(
            exception.CellHasNoMessageQueue, rpc.get_server,
            oslo_messaging.Target(topic=self.topic, server='host1'), [],
            context=self.targeted(cell0))


class RpcTestWidget(ovo_base.VersionedObject):
    """A versioned object in Nova's namespace, registered per test."""

    OBJ_PROJECT_NAMESPACE = 'nova'
    OBJ_SERIAL_NAMESPACE = 'nova_object'
    VERSION = '1.0'
    fields = {'name': ovo_fields.StringField(),
              'size': ovo_fields.IntegerField()}


class TestSerializer(base.RPCTestCase):

    def setUp(self):
        super().setUp()
        self.endpoint = self.serve('default')

    def user_context(self):
        return context.RequestContext(
            user_id='alice', project_id='proj', roles=['member'],
            auth_token='token-' + PASSWORD, read_deleted='yes')

    def test_context_crosses_without_keys_or_token(self):
        ctxt = self.user_context()
        cell = cells_fixture.FakeCell('fake://cell-a/')
        context.set_target_cell(ctxt, cell)
        wire = rpc.RequestContextSerializer().serialize_context(ctxt)
        for leaked in ('db_connection', 'mq_connection', 'cell_uuid',
                       'auth_token'):
            self.assertNotIn(leaked, wire)
        self.assertNotIn(ctxt.mq_connection, str(wire))
        self.assertNotIn(PASSWORD, str(wire))

        client = self.make_router().default_client
        client.call(ctxt, 'whoami')
        seen = self.endpoint.contexts[-1]
        self.assertIsInstance(seen, context.RequestContext)
        self.assertEqual(
            ('alice', 'proj', ['member'], 'yes', ctxt.request_id),
            (seen.user_id, seen.project_id, seen.roles, seen.read_deleted,
             seen.request_id))
        self.assertIsNone(seen.auth_token)
        self.assertIsNone(seen.db_connection)
        self.assertIsNone(seen.cell_uuid)

    def test_auth_token_forwarded_only_when_asked(self):
        serializer = rpc.RequestContextSerializer(forward_auth_token=True)
        client = self.make_router(serializer=serializer).default_client
        self.assertIs(serializer, client.serializer)
        client.call(self.user_context(), 'whoami')
        self.assertEqual('token-' + PASSWORD,
                         self.endpoint.contexts[-1].auth_token)

    def test_plain_and_missing_contexts(self):
        serializer = rpc.RequestContextSerializer()
        self.assertEqual({}, serializer.serialize_context(None))
        self.assertEqual(
            {'user': 'bob'},
            serializer.serialize_context({'user': 'bob', 'auth_token': 't',
                                          'db_connection': 'db-key'}))

    def test_versioned_object_round_trip(self):
        ovo_base.VersionedObjectRegistry.register(RpcTestWidget)
        self.addCleanup(ovo_base.VersionedObjectRegistry.obj_classes().pop,
                        'RpcTestWidget', None)
        widget = RpcTestWidget(name='w', size=3)
        wire = rpc.ObjectSerializer().serialize_entity(self.context, widget)
        self.assertEqual('RpcTestWidget', wire['nova_object.name'])
        self.assertEqual('nova', wire['nova_object.namespace'])

        client = self.make_router().default_client
        echoed = client.call(self.context, 'echo', value=widget)
        self.assertIsInstance(echoed, RpcTestWidget)
        self.assertEqual(('w', 3), (echoed.name, echoed.size))
        self.assertEqual({'plain': [1, 'two']},
                         client.call(self.context, 'echo',
                                     value={'plain': [1, 'two']}))


class TestMasking(base.RPCTestCase):
    """No password reaches a log line or an error, at any log level."""

    DEFAULT_URL = 'fake://guest:%s@default/' % PASSWORD

    def setUp(self):
        super().setUp()
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def test_messaging_logs_no_password(self):
        cell = cells_fixture.FakeCell('fake://user:%s@cell-a/' % PASSWORD)
        endpoint = self.serve('a', cell)
        self.serve('default')
        router = self.make_router()
        cctxt = self.targeted(cell)
        router.client(cctxt).cast(cctxt, 'record', payload='p')
        self.assertEqual('a', router.client(cctxt).call(cctxt,
                                                        'whoami')['label'])
        router.client(self.context).call(self.context, 'whoami')
        self.registry.dispose_transport(cctxt.mq_connection)
        self.assertEqual(['p'], endpoint.casts)
        self.assertIn('user:***@cell-a', self.logs.output)
        self.assertNotIn(PASSWORD, self.logs.output)

    def test_unusable_cell_url_error_is_masked(self):
        cell = cells_fixture.FakeCell(
            'nosuchdriver://user:%s@host/' % PASSWORD)
        router = self.make_router()
        error = self.assertRaises(exception.InvalidCellURL, router.client,
                                  self.targeted(cell))
        self.assertIn(cell.uuid, str(error))
        self.assertIn('nosuchdriver://user:***@host/', str(error))
        self.assertIn('DriverLoadFailure', str(error))
        self.assertNotIn(PASSWORD, str(error))
        self.assertIsNone(error.__cause__)
        self.assertNotIn(PASSWORD, self.logs.output)

    def test_library_errors_quoting_the_url_are_masked(self):
        router = self.make_router()

        def failing_factory(conf, url):
            password = url.split(':')[2].split('@')[0]
            raise ValueError('cannot use %s (password %s)' % (
                url, urllib.parse.unquote(password)))

        self.rpc.transport_factory = failing_factory
        cell = cells_fixture.FakeCell('rabbit://user:%s%%40x@host/' % PASSWORD)
        error = self.assertRaises(exception.InvalidCellURL, router.client,
                                  self.targeted(cell))
        self.assertIn('ValueError: cannot use rabbit://user:***@host/',
                      str(error))
        self.assertNotIn(PASSWORD, str(error))
        self.assertNotIn(PASSWORD, self.logs.output)

    def test_unusable_default_url_error_is_masked(self):
        self.flags(transport_url='rabbit://user:%s@host:port/' % PASSWORD)
        error = self.assertRaises(
            exception.InvalidCellURL, rpc.get_client,
            oslo_messaging.Target(topic=self.topic))
        self.assertIn('[DEFAULT] transport_url', str(error))
        self.assertNotIn(PASSWORD, str(error))
        self.assertNotIn(PASSWORD, self.logs.output)
