"""What a routed read or write sends to a PostgreSQL or MariaDB server.

Counted on the wire (:mod:`nova_cells.tests.fixtures.wire`), so a ``BEGIN``
or ``ROLLBACK`` the driver sends by itself, or a ping, cannot hide: a
routed read outside a transaction is one statement; a write is one
transaction that commits or rolls back as a whole; a read inside a writer
block joins it.
"""

import threading

import sqlalchemy
import testtools
from oslo_db import exception as db_exception
from oslo_utils import uuidutils

from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells import objects
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import pagination
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import wire


class Rollback(Exception):
    pass


class _RoundTripTests:
    """Runs on the server backends only (see the subclasses below)."""

    def setUp(self):
        super().setUp()
        self.api_wire = self.useFixture(
            wire.StatementCounter(self.database.api.url))
        url, = self.cell_database_urls(1)
        self.cell_wire = self.useFixture(wire.StatementCounter(url))
        self.flags(connection=self.api_wire.url_through(),
                   group='api_database')
        connections.get_registry().configure(self.conf)
        self.cell = objects.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='c1',
            transport_url='none:///',
            database_connection=self.cell_wire.url_through())
        self.cell.create()
        self.cctxt = context.get_admin_context()
        context.set_target_cell(self.cctxt, self.cell)

    def sent(self, counter, call, *args, **kwargs):
        """What ``call`` sends once its pool has a connection."""
        call(*args, **kwargs)
        counter.reset()
        result = call(*args, **kwargs)
        return counter.statements(), result

    def assertOneSelect(self, statements):
        self.assertEqual(1, len(statements), statements)
        self.assertTrue(statements[0].startswith('SELECT'), statements)

    def test_instance_reads_send_one_statement(self):
        live = db_api.instance_create(self.cctxt, {'host': 'h1'})
        gone = db_api.instance_create(self.cctxt, {'host': 'h2'})
        db_api.instance_destroy(self.cctxt, gone.uuid)
        statements, record = self.sent(
            self.cell_wire, db_api.instance_get_by_uuid, self.cctxt,
            live.uuid)
        self.assertOneSelect(statements)
        self.assertEqual('h1', record.host)

        # read_deleted is honoured, still in one statement.
        statements, _ = self.sent(
            self.cell_wire, self.assertRaises, exception.InstanceNotFound,
            db_api.instance_get_by_uuid, self.cctxt, gone.uuid)
        self.assertOneSelect(statements)
        deleted_too = self.cctxt.elevated(read_deleted='yes')
        statements, record = self.sent(
            self.cell_wire, db_api.instance_get_by_uuid, deleted_too,
            gone.uuid)
        self.assertOneSelect(statements)
        self.assertEqual('h2', record.host)

        statements, count = self.sent(
            self.cell_wire, db_api.instance_count, self.cctxt)
        self.assertOneSelect(statements)
        self.assertEqual(1, count)
        statements, count = self.sent(
            self.cell_wire, db_api.instance_count, deleted_too)
        self.assertEqual(2, count)

        # A cell's part of a merged listing page (sort values given).
        order = pagination.SortOrder.build(['host'], ['asc'])
        statements, page = self.sent(
            self.cell_wire, db_api.instance_get_all_by_filters, deleted_too,
            {}, order.keys, order.dirs, limit=5, after=('h1', live.uuid))
        self.assertOneSelect(statements)
        self.assertEqual([gone.uuid], [row.uuid for row in page])

    def test_uncached_mapping_lookups_send_one_statement(self):
        self.flags(mapping_cache=False, group='cells')
        instance_uuid = uuidutils.generate_uuid()
        objects.InstanceMapping(
            self.context, instance_uuid=instance_uuid, cell_mapping=self.cell,
            project_id='p1').create()
        objects.HostMapping(self.context, host='host1',
                            cell_mapping=self.cell).create()
        for lookup, argument, check in (
                (objects.CellMapping.get_by_uuid, self.cell.uuid,
                 lambda found: found.name),
                (objects.InstanceMapping.get_by_instance_uuid, instance_uuid,
                 lambda found: found.cell_mapping.name),
                (objects.HostMapping.get_by_host, 'host1',
                 lambda found: found.cell_mapping.name)):
            statements, found = self.sent(self.api_wire, lookup,
                                          self.context, argument)
            self.assertOneSelect(statements)
            self.assertEqual('c1', check(found))

    def test_write_is_one_transaction(self):
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        statements, updated = self.sent(
            self.cell_wire, db_api.instance_update, self.cctxt,
            created.uuid, {'host': 'h2'})
        self.assertEqual('h2', updated.host)
        self.assertTrue(statements[0].startswith('BEGIN'), statements)
        self.assertEqual('COMMIT', statements[-1])
        self.assertEqual(1, sum(s.startswith('BEGIN') for s in statements))

    def test_failed_write_rolls_back_as_a_whole(self):
        existing = db_api.instance_create(self.cctxt, {'host': 'h1'})
        first_uuid = uuidutils.generate_uuid()
        manager = db_api.get_context_manager(self.cctxt)
        self.cell_wire.reset()
        # The server refuses the second row; the first must go with it.
        with testtools.ExpectedException(exception.InstanceExists):
            with manager.writer.using(self.cctxt):
                db_api.instance_create(self.cctxt, {'uuid': first_uuid})
                db_api.instance_update(self.cctxt, first_uuid, {'host': 'x'})
                db_api.instance_create(self.cctxt, {'uuid': existing.uuid})
        statements = self.cell_wire.statements()
        self.assertTrue(statements[0].startswith('BEGIN'), statements)
        self.assertEqual(1, sum(s.startswith('BEGIN') for s in statements))
        self.assertEqual('ROLLBACK', statements[-1], statements)
        self.assertNotIn('COMMIT', statements)
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_get_by_uuid, self.cctxt, first_uuid)

    def test_read_in_a_writer_block_joins_it(self):
        manager = db_api.get_context_manager(self.cctxt)
        seen_outside = []
        try:
            with manager.writer.using(self.cctxt):
                created = db_api.instance_create(self.cctxt, {'host': 'h1'})
                self.cell_wire.reset()
                self.assertEqual('h1', db_api.instance_get_by_uuid(
                    self.cctxt, created.uuid).host)
                # Joined: no transaction of its own.
                self.assertOneSelect(self.cell_wire.statements())

                # Another thread's read is not in this transaction.
                def outside():
                    other = context.get_admin_context()
                    context.set_target_cell(other, self.cell)
                    seen_outside.append(db_api.instance_count(other))

                thread = threading.Thread(target=outside)
                thread.start()
                thread.join(30)
                raise Rollback()
        except Rollback:
            pass
        self.assertEqual([0], seen_outside)
        self.assertEqual(0, db_api.instance_count(self.cctxt))

    def test_dropped_connection_fails_one_read_as_a_transaction_would(self):
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        db_api.instance_get_by_uuid(self.cctxt, created.uuid)
        self.cell_wire.drop_connections()
        # What a lost connection raises for a cell (oslo.db's
        # DBConnectionError, turned into CellUnavailable naming the cell
        # by the fail-fast layer), with or without a transaction.
        self.assertRaises((db_exception.DBConnectionError,
                           exception.CellUnavailable),
                          db_api.instance_get_by_uuid, self.cctxt,
                          created.uuid)
        # The pool was renewed: the next read reconnects.
        self.assertEqual('h1', db_api.instance_get_by_uuid(
            self.cctxt, created.uuid).host)

    def test_pool_pre_ping_when_asked(self):
        self.flags(pool_pre_ping=True, group='cell_database')
        connections.get_registry().configure(self.conf)
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        statements, _ = self.sent(
            self.cell_wire, db_api.instance_get_by_uuid, self.cctxt,
            created.uuid)
        self.assertEqual(2, len(statements), statements)
        self.assertIn(statements[0], ('COM_PING', 'SELECT 1'))


class TestRoundTripsMySQL(base.MySQLMixin, _RoundTripTests,
                          base.DatabaseTestCase):
    pass


class TestRoundTripsPostgreSQL(base.PostgreSQLMixin, _RoundTripTests,
                               base.DatabaseTestCase):
    pass


class TestLoneReadsSQLite(base.DatabaseTestCase):
    """A SQLite file cell: a lone read sends its SELECT and no BEGIN;
    writes keep their transaction, and a read inside one joins it."""

    def setUp(self):
        super().setUp()
        url, = self.cell_database_urls(1)
        self.cell = objects.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='c1',
            transport_url='none:///', database_connection=url)
        self.cell.create()
        self.cctxt = context.get_admin_context()
        context.set_target_cell(self.cctxt, self.cell)
        self.statements = []
        engine = db_api.get_engine(context=self.cctxt)
        sqlalchemy.event.listen(
            engine.pool, 'connect',
            lambda dbapi_connection, _record:
                dbapi_connection.set_trace_callback(self.statements.append))
        engine.pool.dispose()

    def test_lone_read_sends_no_begin(self):
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        del self.statements[:]
        self.assertEqual('h1', db_api.instance_get_by_uuid(
            self.cctxt, created.uuid).host)
        self.assertEqual(1, db_api.instance_count(self.cctxt))
        self.assertEqual(2, len(self.statements), self.statements)
        self.assertTrue(all(statement.startswith('SELECT')
                            for statement in self.statements),
                        self.statements)

    def test_write_keeps_its_transaction_and_a_read_joins_it(self):
        manager = db_api.get_context_manager(self.cctxt)
        try:
            with manager.writer.using(self.cctxt):
                created = db_api.instance_create(self.cctxt, {'host': 'h1'})
                self.assertEqual('h1', db_api.instance_get_by_uuid(
                    self.cctxt, created.uuid).host)
                raise Rollback()
        except Rollback:
            pass
        self.assertEqual('BEGIN', self.statements[0], self.statements)
        self.assertEqual(1, self.statements.count('BEGIN'))
        self.assertNotIn('COMMIT', self.statements)
        self.assertEqual(0, db_api.instance_count(self.cctxt))
