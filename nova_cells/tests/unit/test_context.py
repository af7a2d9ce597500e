"""RequestContext: serialization, targeting, and what it never reveals."""

import dataclasses
import logging
import os
import traceback

import fixtures
from oslo_context import context as oslo_context

from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import database as database_fixture

PASSWORD = 'Pl4nted-S3cret'  # noqa: S105 - the secret the tests hunt for


@dataclasses.dataclass
class Cell:
    """The least a cell needs to be targeted (a CellMapping fits too)."""

    uuid: str
    database_connection: str | None
    transport_url: str | None = 'fake://'
    name: str | None = None


def sqlite_cell(test, name, uuid=None, transport_url='fake://'):
    """A cell with its own SQLite main database (schema created)."""
    database = test.useFixture(database_fixture.SchemaDatabase(
        database_fixture.MAIN, name=name))
    return Cell(uuid or name + '-uuid', database.url, transport_url, name)


def user_context(**kwargs):
    values = dict(user_id='alice', project_id='p1', roles=['member'],
                  user_name='Alice', project_name='Project One',
                  request_id='req-123', global_request_id='req-g1',
                  read_deleted='yes', overwrite=False)
    values.update(kwargs)
    return context.RequestContext(**values)


class TestSerialization(base.TestCase):

    def test_round_trip_keeps_identity_and_read_deleted(self):
        original = user_context(is_admin=True)
        copy = context.RequestContext.from_dict(original.to_dict())
        for name in ('user_id', 'project_id', 'roles', 'user_name',
                     'project_name', 'request_id', 'global_request_id',
                     'read_deleted', 'is_admin'):
            self.assertEqual(getattr(original, name), getattr(copy, name),
                             name)

    def test_to_dict_has_no_routing_state(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, Cell('c1', 'sqlite:////tmp/c1.db'))
        values = ctxt.to_dict()
        for key in ('db_connection', 'mq_connection', 'cell_uuid'):
            self.assertNotIn(key, values)
        self.assertNotIn(ctxt.db_connection, repr(values))
        self.assertNotIn('c1.db', repr(values))
        self.assertFalse(context.RequestContext.from_dict(values)
                         .is_targeted)

    def test_from_dict_copies_roles(self):
        original = user_context()
        copy = context.RequestContext.from_dict(original.to_dict())
        copy.roles.append('admin')
        self.assertEqual(['member'], original.roles)

    def test_repr_names_the_cell_not_its_urls(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, Cell(
            'cell-uuid-1', 'sqlite:////tmp/x.db?password=%s' % PASSWORD,
            'rabbit://u:%s@mq/' % PASSWORD))
        for text in (repr(ctxt), str(ctxt)):
            self.assertIn('cell-uuid-1', text)
            self.assertIn('req-123', text)
            self.assertNotIn(PASSWORD, text)
            self.assertNotIn('x.db', text)

    def test_logging_values_carry_the_cell(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, Cell('cell-uuid-1', 'sqlite://'))
        values = ctxt.get_logging_values()
        self.assertEqual('cell-uuid-1', values['cell_uuid'])
        self.assertEqual('Alice', values['user_name'])


class TestSanitizedCopy(base.TestCase):
    """target_cell's fast copy must equal from_dict(to_dict()) exactly."""

    def full_context(self):
        # Every __init__ argument set to a value of its own, so a field
        # the fast copy forgot (or a new one oslo.context adds) shows.
        values = {name: 'value-of-' + name for name in (
            'auth_token', 'user_id', 'project_id', 'domain_id',
            'user_domain_id', 'project_domain_id', 'request_id',
            'resource_uuid', 'user_name', 'project_name', 'domain_name',
            'user_domain_name', 'project_domain_name', 'service_token',
            'service_user_id', 'service_user_name',
            'service_user_domain_id', 'service_user_domain_name',
            'service_project_id', 'service_project_name',
            'service_project_domain_id', 'service_project_domain_name',
            'global_request_id', 'system_scope')}
        ctxt = context.RequestContext(
            is_admin=True, read_only=True, show_deleted=True,
            is_admin_project=False, roles=['r1', 'r2'],
            service_roles=['s1'], read_deleted='only', overwrite=False,
            **values)
        context.set_target_cell(ctxt, Cell('c', 'sqlite:////tmp/c.db'))
        ctxt.some_attribute_set_later = 'not carried'
        return ctxt

    def test_fast_copy_equals_the_round_trip(self):
        ctxt = self.full_context()
        slow = context.RequestContext.from_dict(ctxt.to_dict(),
                                                overwrite=False)
        fast = context.sanitized_copy(ctxt)
        self.assertIs(type(slow), type(fast))
        self.assertEqual(vars(slow), vars(fast))
        self.assertIsNot(ctxt.roles, fast.roles)
        self.assertEqual(ctxt.to_dict(), fast.to_dict())

    def test_fast_copy_drops_transaction_state(self):
        ctxt = self.full_context()
        # Asking for a session outside a transaction still makes oslo.db
        # hang its per-thread state on the context.
        self.assertRaises(AttributeError, getattr, ctxt, 'session')
        self.assertIn('_enginefacade_context', vars(ctxt))
        self.assertNotIn('_enginefacade_context',
                         vars(context.sanitized_copy(ctxt)))

    def test_subclass_with_its_own_to_dict_takes_the_round_trip(self):
        class Extended(context.RequestContext):
            def to_dict(self):
                values = super().to_dict()
                values['flavour'] = 'mint'
                return values

            @classmethod
            def from_dict(cls, values, **kwargs):
                copy = super().from_dict(values, **kwargs)
                copy.flavour = values['flavour']
                return copy

        copy = context.sanitized_copy(Extended(overwrite=False))
        self.assertEqual('mint', copy.flavour)
        self.assertIsInstance(copy, Extended)

    def test_missing_request_id_is_generated_as_from_dict_does(self):
        ctxt = user_context()
        ctxt.request_id = None
        self.assertTrue(context.sanitized_copy(ctxt).request_id
                        .startswith('req-'))


class TestReadDeletedAndElevated(base.TestCase):

    def test_read_deleted_is_validated(self):
        self.assertRaises(exception.InvalidReadDeleted,
                          context.RequestContext, read_deleted='maybe')
        ctxt = context.get_admin_context()
        for value in context.READ_DELETED_VALUES:
            ctxt.read_deleted = value
            self.assertEqual(value, ctxt.read_deleted)
        error = self.assertRaises(exception.InvalidReadDeleted,
                                  setattr, ctxt, 'read_deleted', 'all')
        self.assertIn("'all'", str(error))
        self.assertEqual('only', ctxt.read_deleted)

    def test_from_dict_validates_read_deleted(self):
        values = user_context().to_dict()
        values['read_deleted'] = 'bogus'
        self.assertRaises(exception.InvalidReadDeleted,
                          context.RequestContext.from_dict, values)

    def test_elevated_is_an_admin_copy(self):
        ctxt = user_context(read_deleted='no')
        admin = ctxt.elevated()
        self.assertTrue(admin.is_admin)
        self.assertIn('admin', admin.roles)
        self.assertFalse(ctxt.is_admin)
        self.assertEqual(['member'], ctxt.roles)
        self.assertEqual('no', admin.read_deleted)
        self.assertEqual('yes', ctxt.elevated(read_deleted='yes')
                         .read_deleted)
        self.assertEqual('no', ctxt.read_deleted)
        self.assertRaises(exception.InvalidReadDeleted, ctxt.elevated,
                          read_deleted='sometimes')

    def test_elevated_stays_targeted(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, Cell('c1', 'sqlite:////tmp/c1.db'))
        admin = ctxt.elevated()
        self.assertEqual(ctxt.db_connection, admin.db_connection)
        self.assertEqual('c1', admin.cell_uuid)

    def test_admin_context_is_untargeted_admin(self):
        ctxt = context.get_admin_context(read_deleted='only')
        self.assertTrue(ctxt.is_admin)
        self.assertFalse(ctxt.is_targeted)
        self.assertEqual('only', ctxt.read_deleted)


class TestTargeting(base.TestCase):

    def setUp(self):
        super().setUp()
        self.registry = connections.get_registry()
        self.registry.configure(self.conf)
        self.addCleanup(self.registry.dispose_all)
        self.cell_a = Cell('a', 'sqlite:////tmp/nc-a.db', 'fake://a/')
        self.cell_b = Cell('b', 'sqlite:////tmp/nc-b.db', 'fake://b/')

    def test_target_cell_yields_a_targeted_copy(self):
        ctxt = user_context()
        before = ctxt.to_dict()
        with context.target_cell(ctxt, self.cell_a) as targeted:
            self.assertIsNot(ctxt, targeted)
            self.assertEqual('a', targeted.cell_uuid)
            self.assertEqual(
                self.registry.database_key(self.cell_a.database_connection),
                targeted.db_connection)
            self.assertEqual(
                self.registry.transport_key(self.cell_a.transport_url),
                targeted.mq_connection)
            self.assertEqual(before, {k: v for k, v in
                                      targeted.to_dict().items()})
            self.assertFalse(ctxt.is_targeted)
        self.assertFalse(ctxt.is_targeted)
        self.assertIsNone(ctxt.cell_uuid)
        self.assertEqual(before, ctxt.to_dict())

    def test_copy_changes_do_not_reach_the_caller(self):
        ctxt = user_context()
        with context.target_cell(ctxt, self.cell_a) as targeted:
            targeted.roles.append('admin')
            targeted.read_deleted = 'only'
        self.assertEqual(['member'], ctxt.roles)
        self.assertEqual('yes', ctxt.read_deleted)

    def test_thread_current_context_is_left_alone(self):
        ctxt = user_context(overwrite=True)
        self.assertIs(ctxt, oslo_context.get_current())
        with context.target_cell(ctxt, self.cell_a):
            self.assertIs(ctxt, oslo_context.get_current())
        self.assertIs(ctxt, oslo_context.get_current())

    def test_nesting(self):
        ctxt = user_context()
        with context.target_cell(ctxt, self.cell_a) as in_a:
            with context.target_cell(in_a, self.cell_b) as in_b:
                self.assertEqual('b', in_b.cell_uuid)
                self.assertEqual('a', in_a.cell_uuid)
                self.assertNotEqual(in_a.db_connection, in_b.db_connection)
                self.assertNotEqual(in_a.mq_connection, in_b.mq_connection)
            self.assertEqual('a', in_a.cell_uuid)
        self.assertFalse(ctxt.is_targeted)

    def test_none_untargets(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, self.cell_a)
        with context.target_cell(ctxt, None) as untargeted:
            self.assertFalse(untargeted.is_targeted)
            self.assertIsNone(untargeted.mq_connection)
            self.assertIsNone(untargeted.cell_uuid)
            self.assertIs(self.registry.main_context_manager(),
                          db_api.get_context_manager(untargeted))
        self.assertEqual('a', ctxt.cell_uuid)

    def test_set_target_cell_in_place(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, self.cell_a)
        self.assertEqual('a', ctxt.cell_uuid)
        self.assertIs(db_api.get_context_manager(ctxt),
                      self.registry.context_manager(ctxt.db_connection))
        context.set_target_cell(ctxt, self.cell_b)
        self.assertEqual('b', ctxt.cell_uuid)
        context.set_target_cell(ctxt, None)
        self.assertFalse(ctxt.is_targeted)
        self.assertIsNone(ctxt.mq_connection)

    def test_same_url_same_key(self):
        ctxt = user_context()
        twin = Cell('twin', self.cell_a.database_connection,
                    self.cell_a.transport_url)
        with context.target_cell(ctxt, self.cell_a) as first:
            with context.target_cell(ctxt, twin) as second:
                self.assertEqual(first.db_connection, second.db_connection)
                self.assertEqual(first.mq_connection, second.mq_connection)

    def test_cell0_has_no_transport(self):
        cell0 = Cell('00000000-0000-0000-0000-000000000000',
                     'sqlite:////tmp/nc-cell0.db', 'none:///')
        with context.target_cell(user_context(), cell0) as targeted:
            self.assertEqual(connections.NO_TRANSPORT_KEY,
                             targeted.mq_connection)
            self.assertRaises(exception.CellNotTargetable,
                              self.registry.transport,
                              targeted.mq_connection)

    def test_missing_transport_url_never_falls_back_to_default(self):
        sent = []
        self.useFixture(fixtures.MockPatchObject(
            self.registry, '_transport_factory',
            lambda conf, url: sent.append(url)))
        for cell in (Cell('c', 'sqlite://', None),
                     _NoTransportAttribute('c', 'sqlite://')):
            with context.target_cell(user_context(), cell) as targeted:
                self.assertEqual(connections.NO_TRANSPORT_KEY,
                                 targeted.mq_connection)
                self.assertRaises(exception.CellNotTargetable,
                                  self.registry.transport,
                                  targeted.mq_connection)
        self.assertEqual([], sent)

    def test_invalid_urls_leave_the_context_alone(self):
        ctxt = user_context()
        context.set_target_cell(ctxt, self.cell_a)
        key = ctxt.db_connection
        for bad in (Cell('bad', 'not a url'),
                    Cell('bad', None),
                    Cell('bad', 'sqlite://', transport_url='no-scheme')):
            error = self.assertRaises(exception.InvalidCellURL,
                                      context.set_target_cell, ctxt, bad)
            self.assertIn('bad', str(error))
            self.assertEqual(key, ctxt.db_connection)
            self.assertEqual('a', ctxt.cell_uuid)
            self.assertRaises(exception.InvalidCellURL,
                              context.target_cell(ctxt, bad).__enter__)


@dataclasses.dataclass
class _NoTransportAttribute:
    uuid: str
    database_connection: str


class TestTargetedTransactions(base.DatabaseTestCase):
    """A targeted copy never joins a transaction of the context it came
    from: oslo.db keeps that state on the context object."""

    def test_copy_starts_without_a_transaction(self):
        cell = sqlite_cell(self, 'cell1')
        with context.target_cell(self.context, cell) as in_cell:
            with db_api.get_context_manager(in_cell).writer.using(in_cell):
                self.assertIsNotNone(in_cell.session)
                with context.target_cell(in_cell, cell) as again:
                    self.assertRaises(AttributeError,
                                      getattr, again, 'session')

    def test_writes_through_a_copy_are_independent(self):
        cell = sqlite_cell(self, 'cell1')

        class Rollback(Exception):
            pass

        with context.target_cell(self.context, cell) as in_cell:
            try:
                with db_api.get_context_manager(in_cell).writer.using(
                        in_cell):
                    # Same cell, same facade: were the transaction state
                    # shared, this write would join the block above and be
                    # rolled back with it.
                    with context.target_cell(in_cell, cell) as copy:
                        kept = db_api.instance_create(copy, {'host': 'kept'})
                    with context.target_cell(self.context, None) as local:
                        local_row = db_api.instance_create(
                            local, {'host': 'local'})
                    raise Rollback()
            except Rollback:
                pass
            self.assertEqual('kept',
                             db_api.instance_get_by_uuid(in_cell, kept.uuid)
                             .host)
        self.assertEqual('local', db_api.instance_get_by_uuid(
            self.context, local_row.uuid).host)
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_get_by_uuid, self.context,
                          kept.uuid)

    def test_outer_transaction_unaffected_by_targeted_writes(self):
        cell = sqlite_cell(self, 'cell1')
        manager = db_api.get_context_manager(self.context)
        with manager.writer.using(self.context):
            outer_session = self.context.session
            with context.target_cell(self.context, cell) as in_cell:
                db_api.instance_create(in_cell, {'host': 'in-cell'})
            self.assertIs(outer_session, self.context.session)
            db_api.instance_create(self.context, {'host': 'outer'})
        hosts = [i.host for i in
                 db_api.instance_get_all_by_filters(self.context)]
        self.assertEqual(['outer'], hosts)


def _level_restored(test, name, level):
    logger = logging.getLogger(name)
    test.addCleanup(logger.setLevel, logger.level)
    logger.setLevel(level)


class TestSecretsNeverLeak(base.DatabaseTestCase):
    """Plant a password in a cell's URLs, do everything a caller does with
    that cell, and look for the password everywhere a person could see."""

    def setUp(self):
        super().setUp()
        # oslo.db resets sqlalchemy.engine to WARNING unless asked for
        # SQL debugging; ask, so SQLAlchemy's own logging is searched too.
        self.flags(connection_debug=100, group='database')
        self.logs = self.useFixture(fixtures.FakeLogger(
            name=None, level=logging.DEBUG,
            format='%(name)s %(levelname)s %(message)s'))
        for name in ('nova_cells', 'oslo_db', 'oslo.messaging',
                     'sqlalchemy', 'sqlalchemy.engine', 'sqlalchemy.pool',
                     'alembic', 'py.warnings'):
            _level_restored(self, name, logging.DEBUG)
        logging.captureWarnings(True)
        self.addCleanup(logging.captureWarnings, False)
        self.seen = []  # text a person could see, besides the logs

    def see(self, *objects):
        for item in objects:
            if isinstance(item, BaseException):
                self.seen.append(''.join(traceback.format_exception(item)))
                self.seen.append(repr(item))
                self.seen.append(repr(getattr(item, 'kwargs', None)))
            else:
                self.seen.append(repr(item))
                self.seen.append(str(item))

    def see_context(self, ctxt):
        self.see(ctxt, ctxt.to_dict(), ctxt.get_logging_values())

    def assertNoSecret(self):
        output = self.logs.output
        self.assertNotIn(PASSWORD, output)
        for text in self.seen:
            self.assertNotIn(PASSWORD, text)

    def test_cell_with_planted_passwords(self):
        database = self.useFixture(database_fixture.SchemaDatabase(
            database_fixture.MAIN, name='secret'))
        cell = Cell('secret-cell',
                    database.url + '?password=' + PASSWORD,
                    'rabbit://nova:%s@mq.example.org:5672/' % PASSWORD,
                    name='secret')
        with context.target_cell(self.context, cell) as in_cell:
            self.see_context(in_cell)
            created = db_api.instance_create(in_cell, {'host': 'h1'})
            read = db_api.instance_get_by_uuid(in_cell, created.uuid)
            db_api.instance_update(in_cell, created.uuid, {'host': 'h2'})
            self.see(read, db_api.get_engine(context=in_cell))
            error = self.assertRaises(exception.InstanceNotFound,
                                      db_api.instance_get_by_uuid, in_cell,
                                      'missing')
            self.see(error)
            # The real driver, built but never connected.
            registry = connections.get_registry()
            self.see(registry.transport(in_cell.mq_connection))
            self.assertTrue(registry.dispose_transport(in_cell.mq_connection))
            with context.target_cell(in_cell, None) as untargeted:
                self.see_context(untargeted)
            self.see_context(in_cell.elevated())
            self.assertEqual('h2', db_api.instance_get_by_uuid(
                in_cell, created.uuid).host)
        self.see_context(self.context)
        # The capture must have been live, or this test proves nothing.
        self.assertIn('sqlalchemy.engine', self.logs.output)
        self.assertIn('nova_cells.connections', self.logs.output)
        self.assertIn('Created transport', self.logs.output)
        self.assertIn('***', self.logs.output)
        self.assertNoSecret()

    def test_invalid_urls(self):
        for cell in (
                Cell('bad-db', 'mysql+nosuchdriver://nova:%s@db/nova' %
                     PASSWORD),
                Cell('bad-port', 'mysql+pymysql://nova:%s@db:port/nova' %
                     PASSWORD),
                Cell('bad-parse', 'nova:%s@db/nova' % PASSWORD),
                Cell('bad-mq', 'sqlite://', 'nova:%s@mq' % PASSWORD)):
            error = self.assertRaises(exception.InvalidCellURL,
                                      context.set_target_cell,
                                      self.context, cell)
            self.assertIn(cell.uuid, str(error))
            self.see(error)
        self.assertNoSecret()

    def test_unreachable_cell_database(self):
        missing = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'no-such-dir', 'cell.sqlite')
        unreachable = (
            'sqlite:///%s?password=%s' % (missing, PASSWORD),
            'postgresql+psycopg2://nova@127.0.0.1:1/nova?password=%s&'
            'connect_timeout=1' % PASSWORD,
            'mysql+pymysql://nova:%s@127.0.0.1:1/nova' % PASSWORD)
        for index, url in enumerate(unreachable):
            cell = Cell('down-%d' % index, url, 'none:///')
            with context.target_cell(self.context, cell) as in_cell:
                try:
                    db_api.instance_get_by_uuid(in_cell, 'any')
                except exception.CellUnavailable as e:
                    self.assertIn(cell.uuid, str(e))
                    self.see(e)
                else:
                    self.fail('%s was reachable' % cell.uuid)
        self.assertNoSecret()
