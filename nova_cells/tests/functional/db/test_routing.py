"""Per-call routing on real databases: each row lands where its context
was targeted, and nowhere else, under concurrency and URL changes.

Every check of where a row landed reads the cell's database directly with
a plain SQLAlchemy engine, never through the code under test.
"""

import collections
import random
import sys
import threading
import time

import sqlalchemy as sa
from oslo_db import exception as db_exception

from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cells as cells_fixture

INSTANCES = models.Instance.__table__


def read_instances(url: str) -> dict[str, dict]:
    """Every instance row of the database at ``url``, deleted or not."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(INSTANCES)).mappings()
            return {row['uuid']: dict(row) for row in rows}
    finally:
        engine.dispose()


class RoutingTestCase(base.DatabaseTestCase):

    CELLS = 2

    def setUp(self):
        super().setUp()
        self.cells = [cells_fixture.FakeCell(name='cell%d' % index,
                                             database_connection=url)
                      for index, url in
                      enumerate(self.cell_database_urls(self.CELLS))]
        self.local_url = self.database.main.url

    def where_is(self, uuid: str) -> list[str]:
        """Names of the databases (cells and 'local') holding ``uuid``."""
        found = [cell.name for cell in self.cells
                 if uuid in read_instances(cell.database_connection)]
        if uuid in read_instances(self.local_url):
            found.append('local')
        return found


class TestRouting(RoutingTestCase):

    def test_row_written_in_a_cell_is_visible_there_only(self):
        cell_a, cell_b = self.cells
        with context.target_cell(self.context, cell_a) as in_a:
            created = db_api.instance_create(in_a, {'host': 'host-a'})
            self.assertEqual('host-a', db_api.instance_get_by_uuid(
                in_a, created.uuid).host)
        self.assertEqual(['cell0'], self.where_is(created.uuid))
        with context.target_cell(self.context, cell_b) as in_b:
            self.assertRaises(exception.InstanceNotFound,
                              db_api.instance_get_by_uuid, in_b,
                              created.uuid)
            self.assertEqual([], db_api.instance_get_all_by_filters(in_b))
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_get_by_uuid, self.context,
                          created.uuid)

    def test_untargeted_context_reaches_the_local_database(self):
        created = db_api.instance_create(self.context, {'host': 'local'})
        self.assertEqual(['local'], self.where_is(created.uuid))
        self.assertEqual('local', db_api.instance_get_by_uuid(
            self.context, created.uuid).host)
        with context.target_cell(self.context, self.cells[0]) as in_a:
            with context.target_cell(in_a, None) as untargeted:
                self.assertEqual('local', db_api.instance_get_by_uuid(
                    untargeted, created.uuid).host)

    def test_every_function_follows_the_context(self):
        cell_a, cell_b = self.cells
        with context.target_cell(self.context, cell_a) as in_a:
            instance = db_api.instance_create(in_a, {'host': 'h'})
            db_api.instance_update(in_a, instance.uuid, {'host': 'h2'})
            db_api.compute_node_create(in_a, {'host': 'h2',
                                              'hypervisor_hostname': 'n'})
            db_api.service_create(in_a, {'host': 'h2',
                                         'binary': 'nova-compute'})
            db_api.instance_destroy(in_a, instance.uuid)
        with context.target_cell(self.context, cell_b) as in_b:
            self.assertEqual([], db_api.compute_node_get_all(in_b))
            self.assertEqual([], db_api.service_get_all(in_b))
            self.assertRaises(exception.InstanceNotFound,
                              db_api.instance_destroy, in_b, instance.uuid)
        self.assertEqual([], db_api.compute_node_get_all(self.context))
        with context.target_cell(self.context, cell_a) as in_a:
            self.assertEqual(1, len(db_api.compute_node_get_all(in_a)))
            self.assertEqual(1, len(db_api.service_get_all(in_a)))
        row = read_instances(cell_a.database_connection)[instance.uuid]
        self.assertEqual('h2', row['host'])
        self.assertNotEqual(0, row['deleted'])

    def test_engines_and_sessions_follow_the_context(self):
        cell_a = self.cells[0]
        with context.target_cell(self.context, cell_a) as in_a:
            cell_database = sa.engine.make_url(
                cell_a.database_connection).database
            self.assertEqual(cell_database,
                             db_api.get_engine(context=in_a).url.database)
            session = db_api.get_session(context=in_a)
            try:
                self.assertEqual(cell_database,
                                 session.get_bind().url.database)
            finally:
                session.close()
            # The API database is never routed by the context.
            api_database = sa.engine.make_url(self.database.api.url)
            self.assertEqual(api_database.database, db_api.get_engine(
                context=in_a, database='api').url.database)
        self.assertEqual(
            sa.engine.make_url(self.local_url).database,
            db_api.get_engine(context=self.context).url.database)
        self.assertRaises(exception.InvalidDatabaseName,
                          db_api.get_context_manager, self.context, 'cell')

    def test_changed_url_reroutes_the_next_call(self):
        old_url, new_url = (cell.database_connection for cell in self.cells)
        cell = cells_fixture.FakeCell(name='moving',
                                      database_connection=old_url)
        with context.target_cell(self.context, cell) as before:
            first = db_api.instance_create(before, {'host': 'old'})
        old_key = before.db_connection
        # The operator points the same cell at another database
        # (update_cell): no restart, no cache to clear.
        cell.database_connection = new_url
        with context.target_cell(self.context, cell) as after:
            second = db_api.instance_create(after, {'host': 'new'})
            self.assertRaises(exception.InstanceNotFound,
                              db_api.instance_get_by_uuid, after,
                              first.uuid)
        self.assertNotEqual(old_key, after.db_connection)
        self.assertEqual(['cell0'], self.where_is(first.uuid))
        self.assertEqual(['cell1'], self.where_is(second.uuid))
        # The facade of the old URL is no longer needed and can go.
        registry = connections.get_registry()
        self.assertTrue(registry.dispose_database(old_key))
        with context.target_cell(self.context, cell) as again:
            self.assertEqual('new', db_api.instance_get_by_uuid(
                again, second.uuid).host)


class TestRoutingMySQL(base.MySQLMixin, TestRouting):
    pass


class TestRoutingPostgreSQL(base.PostgreSQLMixin, TestRouting):
    pass


class TestConcurrentRouting(RoutingTestCase):
    """Threads sharing one root context hit random cells; afterwards every
    cell holds exactly the rows meant for it, in the state last written."""

    CELLS = 5
    THREADS = 32
    #: Per thread: 1,920 calls in all, interleaved every 10 µs (below),
    #: catch a context shared between threads as surely as more would;
    #: at 200 each the MySQL run alone took minutes of a 2-core CI.
    OPERATIONS = 60

    def run_worker(self, index: int, expected: dict, timings: list):
        chooser = random.Random(index)
        mine: list[tuple[str, int]] = []  # (uuid, cell index), live only
        for step in range(self.OPERATIONS):
            operation = chooser.choice(
                ('create', 'create', 'get', 'update', 'destroy')
                if mine else ('create',))
            if operation == 'create':
                cell_index = chooser.randrange(self.CELLS)
            else:
                uuid, cell_index = chooser.choice(mine)
            cell = self.cells[cell_index]
            started = time.perf_counter()
            with context.target_cell(self.root, cell) as ctxt:
                if operation == 'create':
                    row = db_api.instance_create(ctxt, {
                        'display_name': cell.name,
                        'host': 'worker%d' % index,
                        'vm_state': 'building'})
                    mine.append((row.uuid, cell_index))
                    expected[row.uuid] = (cell.name, 'building', False)
                elif operation == 'get':
                    row = db_api.instance_get_by_uuid(ctxt, uuid)
                    if row.display_name != cell.name:
                        raise AssertionError('%s read from %s, not %s' % (
                            uuid, row.display_name, cell.name))
                elif operation == 'update':
                    state = 'state%d' % step
                    row = db_api.instance_update(ctxt, uuid,
                                                 {'vm_state': state})
                    expected[uuid] = (cell.name, state, False)
                else:
                    db_api.instance_destroy(ctxt, uuid)
                    mine.remove((uuid, cell_index))
                    expected[uuid] = (cell.name, expected[uuid][1], True)
            timings.append(time.perf_counter() - started)

    def test_no_cross_talk(self):
        # Switch threads far more often than the default 5 ms, so a context
        # shared between threads would be caught mid-call.
        self.addCleanup(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(1e-5)
        self.root = context.get_admin_context()
        expected: dict[str, tuple[str, str, bool]] = {}
        timings: list[float] = []
        errors = []

        def worker(index):
            try:
                self.run_worker(index, expected, timings)
            except Exception as error:  # reported below
                errors.append((index, error))

        threads = [threading.Thread(target=worker, args=(index,))
                   for index in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        self.assertEqual(self.THREADS * self.OPERATIONS, len(timings))

        found: dict[str, tuple[str, str, bool]] = {}
        per_cell = collections.Counter()
        for cell in self.cells:
            for uuid, row in read_instances(
                    cell.database_connection).items():
                self.assertNotIn(uuid, found, 'row in two databases')
                self.assertEqual(cell.name, row['display_name'],
                                 'row written to the wrong cell')
                found[uuid] = (cell.name, row['vm_state'],
                               row['deleted'] != 0)
                per_cell[cell.name] += 1
        self.assertEqual({}, read_instances(self.local_url))
        self.assertEqual(expected, found)
        # Every cell was used, so the check above covered all five.
        self.assertEqual(self.CELLS, len(per_cell))


class TestConcurrentRoutingMySQL(base.MySQLMixin, TestConcurrentRouting):
    pass


class TestConcurrentRoutingPostgreSQL(base.PostgreSQLMixin,
                                      TestConcurrentRouting):
    pass


class TestNestedWrite(RoutingTestCase):
    """SQLite allows one writer per file: a targeted write nested inside a
    write transaction on the same SQLite cell fails at once, naming the
    reason, instead of waiting the whole busy timeout for its own thread."""

    CELLS = 1

    def test_nested_write_on_the_same_cell_fails_at_once(self):
        cell = self.cells[0]
        with context.target_cell(self.context, cell) as outer:
            with db_api.get_context_manager(outer).writer.using(outer):
                kept = db_api.instance_create(outer, {'project_id': 'p'})
                with context.target_cell(self.context, cell) as inner:
                    # oslo.db wraps what a statement hook raises.
                    error = self.assertRaises(
                        db_exception.DBError, db_api.instance_create,
                        inner, {'project_id': 'p'})
        self.assertIsInstance(error.inner_exception,
                              exception.SQLiteNestedWrite)
        self.assertIn('SQLite allows one writer', str(error))
        # The outer transaction went on and committed; the file is free.
        self.assertEqual(['cell0'], self.where_is(kept.uuid))
        with context.target_cell(self.context, cell) as again:
            later = db_api.instance_create(again, {'project_id': 'p'})
        self.assertEqual(['cell0'], self.where_is(later.uuid))

    def test_writers_in_other_threads_still_queue(self):
        """Only the same thread's nested writer is refused: another
        thread waits for the lock, as SQLite intends."""
        cell = self.cells[0]
        started, results = threading.Event(), []

        def other_thread():
            started.set()
            with context.target_cell(self.context, cell) as cctxt:
                results.append(db_api.instance_create(
                    cctxt, {'project_id': 'p'}).uuid)

        with context.target_cell(self.context, cell) as outer:
            with db_api.get_context_manager(outer).writer.using(outer):
                db_api.instance_create(outer, {'project_id': 'p'})
                thread = threading.Thread(target=other_thread)
                thread.start()
                started.wait()
        thread.join(60)
        self.assertEqual(1, len(results))
        self.assertEqual(['cell0'], self.where_is(results[0]))
