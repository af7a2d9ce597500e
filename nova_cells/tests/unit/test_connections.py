"""The connection registry: keys, facades, transports, pools."""

import os
import threading
import time
from unittest import mock

import fixtures
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells import urls
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture
from nova_cells.tests.fixtures import database as database_fixture

PASSWORD = 'Pl4nted-S3cret'  # noqa: S105 - the secret the tests hunt for


def count_connects(engine):
    """How many DBAPI connections ``engine`` opens from now on."""
    opened = []
    sa.event.listen(engine, 'connect', lambda *args: opened.append(1))
    return opened


class TestKeys(base.RegistryTestCase):

    def test_one_key_and_one_facade_per_url(self):
        url_a = 'sqlite:////tmp/nc-keys-a.sqlite'
        url_b = 'sqlite:////tmp/nc-keys-b.sqlite'
        key_a = self.registry.database_key(url_a, cell='a')
        self.assertEqual(key_a, self.registry.database_key(url_a, cell='x'))
        key_b = self.registry.database_key(url_b)
        self.assertNotEqual(key_a, key_b)
        facade = self.registry.context_manager(key_a)
        self.assertIs(facade, self.registry.context_manager(key_a))
        self.assertIsNot(facade, self.registry.context_manager(key_b))
        self.assertEqual(2, self.registry.facade_count())

    def test_keys_are_opaque(self):
        url = ('mysql+pymysql://nova:%s@db-host.example.org:3306/'
               'cell_db_name?charset=utf8' % PASSWORD)
        mq_url = 'rabbit://nova:%s@mq-host.example.org:5672/vhost' % (
            PASSWORD)
        db_key = self.registry.database_key(url)
        mq_key = self.registry.transport_key(mq_url)
        for key in (db_key, mq_key):
            for part in (PASSWORD, 'nova', 'example', 'db-host', 'mq-host',
                         'cell_db_name', '3306', '5672', 'mysql', 'rabbit',
                         'vhost'):
                self.assertNotIn(part, key)
        self.assertRegex(db_key, r'^db-[0-9a-f]{24}$')
        self.assertRegex(mq_key, r'^mq-[0-9a-f]{24}$')

    def test_keys_do_not_identify_urls_across_processes(self):
        url = 'sqlite:////tmp/nc-keys.sqlite'
        other = connections.ConnectionRegistry(self.conf)
        self.assertNotEqual(self.registry.database_key(url),
                            other.database_key(url))

    def test_unknown_key(self):
        error = self.assertRaises(exception.NotFound,
                                  self.registry.context_manager, 'db-nope')
        self.assertIn('db-nope', str(error))

    def test_invalid_database_url_names_the_cell_and_masks_password(self):
        for url, reason in (
                ('mysql+nosuchdriver://nova:%s@db/nova' % PASSWORD,
                 'dialect'),
                ('nova:%s@db/nova' % PASSWORD, 'expected'),
                ('mysql+pymysql://nova:%s@db:port/nova' % PASSWORD,
                 'port must be a number'),
                (None, 'expected')):
            error = self.assertRaises(exception.InvalidCellURL,
                                      self.registry.database_key, url,
                                      cell='cell-seven')
            message = str(error)
            self.assertIn('cell-seven', message)
            self.assertIn('database', message)
            self.assertIn(reason, message)
            self.assertNotIn(PASSWORD, message)
            if url is not None:
                self.assertIn('***', message)

    def test_driver_that_is_not_installed_is_refused_at_targeting(self):
        error = self.assertRaises(
            exception.InvalidCellURL, self.registry.database_key,
            'mysql+mysqldb://nova:%s@db/nova' % PASSWORD, cell='c')
        self.assertIn('not installed', str(error))
        self.assertNotIn(PASSWORD, str(error))

    def test_invalid_transport_url(self):
        error = self.assertRaises(exception.InvalidCellURL,
                                  self.registry.transport_key,
                                  'nova:%s@mq' % PASSWORD, cell='cell-9')
        self.assertIn('cell-9', str(error))
        self.assertIn('transport', str(error))
        self.assertNotIn(PASSWORD, str(error))

    def test_invalid_url_is_never_registered(self):
        self.assertRaises(exception.InvalidCellURL,
                          self.registry.database_key, 'garbage')
        self.assertRaises(exception.InvalidCellURL,
                          self.registry.database_key, 'garbage')
        self.assertEqual(0, self.registry.facade_count())


class TestEngineUrl(base.TestCase):
    """What oslo.db is handed: same database, no printable password."""

    def test_driver_is_named(self):
        self.assertEqual(
            'mysql+pymysql://nova:pw@db/nova',
            urls.engine_url('mysql+pymysql://nova:pw@db/nova'))
        # A bare scheme means the driver this project installs, not
        # SQLAlchemy's default (psycopg 3, MySQLdb: neither installed).
        self.assertEqual('postgresql+psycopg2://h/db',
                         urls.engine_url('postgresql://h/db'))
        self.assertEqual('mysql+pymysql://h/db',
                         urls.engine_url('mysql://h/db'))
        self.assertIsNone(
            urls.database_url_problem('postgresql://u:pw@h/db'))

    def test_query_password_moves_into_userinfo(self):
        url = urls.engine_url(
            'postgresql+psycopg2://nova@h/db?password=%s&sslmode=disable'
            % PASSWORD)
        parsed = sa.engine.make_url(url)
        self.assertEqual(PASSWORD, parsed.password)
        self.assertEqual({'sslmode': 'disable'}, dict(parsed.query))
        self.assertNotIn(PASSWORD, repr(parsed))

    def test_sqlite_drops_an_ignored_password(self):
        self.assertEqual(
            'sqlite:////tmp/x.sqlite',
            urls.engine_url('sqlite:////tmp/x.sqlite?password=x'))

    def test_plain_urls_are_unchanged(self):
        for url in ('sqlite:////tmp/x.sqlite', 'sqlite://',
                    'mysql+pymysql://u:p%40ss@h:3306/db?charset=utf8'):
            self.assertEqual(url, urls.engine_url(url))


class TestConcurrentFirstTargeting(base.RegistryTestCase):

    THREADS = 50

    def test_fifty_threads_one_facade(self):
        url = self.cell_database('new-cell')
        cell = cells_fixture.FakeCell(uuid='new-cell', database_connection=url,
                                      transport_url='fake://new-cell/')
        real_new_facade = self.registry._new_facade

        def slow_new_facade(*args, **kwargs):
            # Widen the window in which a second creation could slip in.
            time.sleep(0.05)
            return real_new_facade(*args, **kwargs)

        new_facade = self.useFixture(fixtures.MockPatchObject(
            self.registry, '_new_facade', side_effect=slow_new_facade)).mock
        barrier = threading.Barrier(self.THREADS)
        results, errors = [], []
        root = context.get_admin_context()

        def target_and_use():
            try:
                barrier.wait()
                with context.target_cell(root, cell) as ctxt:
                    manager = db_api.get_context_manager(ctxt)
                    engine = db_api.get_engine(context=ctxt)
                    results.append((ctxt.db_connection, ctxt.mq_connection,
                                    id(manager), id(engine)))
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=target_and_use)
                   for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        self.assertEqual(self.THREADS, len(results))
        self.assertEqual(1, len(set(results)))
        self.assertEqual(1, new_facade.call_count)
        self.assertEqual(1, self.registry.facade_count())

    def test_fifty_threads_one_transport(self):
        created = []

        def factory(conf, url):
            time.sleep(0.05)
            created.append(url)
            return mock.Mock()

        self.useFixture(fixtures.MockPatchObject(
            self.registry, '_transport_factory', factory))
        barrier = threading.Barrier(self.THREADS)
        transports = []

        def get_transport():
            barrier.wait()
            key = self.registry.transport_key('fake://bus/', cell='c')
            transports.append(id(self.registry.transport(key)))

        threads = [threading.Thread(target=get_transport)
                   for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(['fake://bus/'], created)
        self.assertEqual(self.THREADS, len(transports))
        self.assertEqual(1, len(set(transports)))


class TestCellFacadeSettings(base.RegistryTestCase):

    def setUp(self):
        super().setUp()
        self.local_url = self.cell_database('local')
        self.replica_url = self.cell_database('local-replica')
        self.cell_url = self.cell_database('cell1')
        self.flags(connection=self.local_url, group='database')
        self.registry.configure(self.conf)

    def targeted(self):
        root = context.get_admin_context()
        ctxt = context.RequestContext.from_dict(root.to_dict())
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='cell1', database_connection=self.cell_url))
        return ctxt

    def test_cell_never_gets_the_local_slave_connection(self):
        self.flags(slave_connection=self.replica_url, group='database')
        self.registry.configure(self.conf)
        # The local node does read from its replica...
        self.assertEqual(
            sa.engine.make_url(self.replica_url).database,
            db_api.get_engine(use_slave=True).url.database)
        # ...a cell reads from its own database, writer and reader alike.
        ctxt = self.targeted()
        cell_database_path = sa.engine.make_url(self.cell_url).database
        for use_slave in (False, True):
            engine = db_api.get_engine(use_slave=use_slave, context=ctxt)
            self.assertEqual(cell_database_path, engine.url.database)

    def test_cell_reads_land_in_the_cell_not_the_replica(self):
        self.flags(slave_connection=self.replica_url, group='database')
        self.registry.configure(self.conf)
        ctxt = self.targeted()
        created = db_api.instance_create(ctxt, {'host': 'h'})
        manager = db_api.get_context_manager(ctxt)
        with manager.reader.using(ctxt):
            found = ctxt.session.execute(
                sa.select(sa.func.count()).select_from(
                    sa.table('instances'))).scalar_one()
        self.assertEqual(1, found)
        self.assertEqual(created.uuid,
                         db_api.instance_get_by_uuid(ctxt, created.uuid).uuid)


class TestDisposal(base.RegistryTestCase):

    def test_disposed_facade_is_recreated_on_next_use(self):
        url = self.cell_database('cell1')
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='cell1', database_connection=url))
        created = db_api.instance_create(ctxt, {'host': 'h'})
        old_engine = db_api.get_engine(context=ctxt)
        old_manager = db_api.get_context_manager(ctxt)
        self.assertTrue(self.registry.dispose_database(ctxt.db_connection))
        self.assertEqual(0, self.registry.facade_count())
        self.assertEqual(0, old_engine.pool.checkedin())
        self.assertFalse(self.registry.dispose_database(ctxt.db_connection))
        # The context still holds the key: the next call simply works.
        self.assertEqual('h', db_api.instance_get_by_uuid(
            ctxt, created.uuid).host)
        self.assertIsNot(old_manager, db_api.get_context_manager(ctxt))
        self.assertEqual(1, self.registry.facade_count())

    def test_dispose_transport(self):
        transport = mock.Mock()
        self.useFixture(fixtures.MockPatchObject(
            self.registry, '_transport_factory',
            lambda conf, url: transport))
        key = self.registry.transport_key('fake://bus/')
        self.assertIs(transport, self.registry.transport(key))
        self.assertTrue(self.registry.dispose_transport(key))
        transport.cleanup.assert_called_once_with()
        self.assertFalse(self.registry.dispose_transport(key))

    def test_dispose_all_includes_the_local_facades(self):
        self.flags(connection=self.cell_database('local'),
                   group='database')
        self.registry.configure(self.conf)
        local = self.registry.main_context_manager()
        db_api.instance_create(context.get_admin_context(), {'host': 'h'})
        self.registry.dispose_all()
        self.assertIsNot(local, self.registry.main_context_manager())


class TestSQLitePooling(base.RegistryTestCase):
    """The embedded default must not open a connection per call."""

    def assertWarmLoopOpensOneConnection(self, ctxt):
        created = db_api.instance_create(ctxt, {'host': 'h'})
        engine = db_api.get_engine(context=ctxt)
        self.assertIsInstance(engine.pool, sa_pool.QueuePool)
        engine.pool.dispose()
        opened = count_connects(engine)
        for _ in range(100):
            db_api.instance_get_by_uuid(ctxt, created.uuid)
        self.assertEqual(1, len(opened))

    def test_cell_database(self):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='c', database_connection=self.cell_database('c')))
        self.assertWarmLoopOpensOneConnection(ctxt)

    def test_local_default_database(self):
        # The embedded default: no [database] connection configured at all.
        state_path = self.useFixture(fixtures.TempDir()).path
        self.flags(state_path=state_path)
        self.registry.configure(self.conf)
        database_fixture.create_schema(
            self.conf.database.connection, database_fixture.MAIN)
        self.assertTrue(os.path.exists(
            os.path.join(state_path, 'nova_cells.sqlite')))
        self.assertWarmLoopOpensOneConnection(context.get_admin_context())

    def test_transactions_still_roll_back(self):
        # The BEGIN that makes a block atomic is emitted by the tuned
        # listener: without it SQLite would commit every statement alone.
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='c', database_connection=self.cell_database('c')))
        statements = []
        engine = db_api.get_engine(context=ctxt)
        engine.pool.dispose()
        sa.event.listen(engine, 'connect', lambda dbapi_connection, _: (
            dbapi_connection.set_trace_callback(statements.append)))

        class Abort(Exception):
            pass

        try:
            with db_api.get_context_manager(ctxt).writer.using(ctxt):
                db_api.instance_create(ctxt, {'host': 'doomed'})
                raise Abort()
        except Abort:
            pass
        self.assertEqual('BEGIN', statements[0])
        self.assertEqual(1, statements.count('BEGIN'))
        self.assertEqual('ROLLBACK', statements[-1])
        self.assertEqual([], db_api.instance_get_all_by_filters(ctxt))

    def test_wal_and_busy_timeout(self):
        ctxt = context.get_admin_context()
        context.set_target_cell(ctxt, cells_fixture.FakeCell(
            uuid='c', database_connection=self.cell_database('c')))
        with db_api.get_engine(context=ctxt).connect() as connection:
            self.assertEqual('wal', connection.exec_driver_sql(
                'PRAGMA journal_mode').scalar_one())
            self.assertGreater(connection.exec_driver_sql(
                'PRAGMA busy_timeout').scalar_one(), 1000)
            self.assertEqual(1, connection.exec_driver_sql(
                'PRAGMA foreign_keys').scalar_one())
