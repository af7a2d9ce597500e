"""Cell engines keep what oslo.db's and this project's connection
listeners did, with the work done by the dialect
(:mod:`nova_cells.db.sqlalchemy.dialect_hooks`), on every backend.

What a read or a write sends is counted in ``test_round_trips``; here:
SQLAlchemy is told there is no connection event to dispatch, yet a
listener added later is still called, and oslo.db still names the cause
of a savepoint's rollback on the next error of that transaction.
"""

import sqlalchemy
from oslo_db import exception as db_exception
from oslo_utils import uuidutils

from nova_cells import context
from nova_cells import objects
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import base


class FirstFailure(Exception):
    pass


class _DialectHookTests:

    def setUp(self):
        super().setUp()
        url, = self.cell_database_urls(1)
        self.cell = objects.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='c1',
            transport_url='none:///', database_connection=url)
        self.cell.create()
        self.cctxt = context.get_admin_context()
        context.set_target_cell(self.cctxt, self.cell)
        self.engine = db_api.get_engine(context=self.cctxt)

    def test_no_connection_event_is_dispatched(self):
        self.assertFalse(self.engine._has_events)
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        self.assertEqual('h1', db_api.instance_get_by_uuid(
            self.cctxt, created.uuid).host)

    def test_a_listener_added_later_is_called(self):
        created = db_api.instance_create(self.cctxt, {'host': 'h1'})
        seen = []
        sqlalchemy.event.listen(
            self.engine, 'before_cursor_execute',
            lambda _conn, _cursor, statement, *_args: seen.append(statement))
        self.assertEqual('h1', db_api.instance_get_by_uuid(
            self.cctxt, created.uuid).host)
        self.assertEqual(1, len(seen), seen)
        self.assertIn('instances', seen[0])

    def test_savepoint_rollback_cause_is_kept(self):
        table = models.Instance.__table__
        row = {'uuid': uuidutils.generate_uuid(), 'deleted': 0}
        manager = db_api.get_context_manager(self.cctxt)
        with manager.writer.using(self.cctxt) as session:
            try:
                with session.begin_nested():
                    session.execute(table.insert(), {
                        'uuid': uuidutils.generate_uuid(), 'deleted': 0})
                    raise FirstFailure('rolled back to the savepoint')
            except FirstFailure:
                pass
            session.execute(table.insert(), row)
            error = self.assertRaises(db_exception.DBDuplicateEntry,
                                      session.execute, table.insert(), row)
            self.assertIsInstance(error.cause, FirstFailure)

    def test_cause_is_forgotten_with_its_transaction(self):
        # Two transactions on one checkout: the pool's check-in, which
        # also forgets the cause, comes only after both.
        table = models.Instance.__table__
        row = {'uuid': uuidutils.generate_uuid(), 'deleted': 0}
        with self.engine.connect() as connection:
            with connection.begin():
                try:
                    with connection.begin_nested():
                        raise FirstFailure('rolled back to the savepoint')
                except FirstFailure:
                    pass
                connection.execute(table.insert(), row)
            with connection.begin():
                error = self.assertRaises(db_exception.DBDuplicateEntry,
                                          connection.execute,
                                          table.insert(), row)
            self.assertIsNone(error.cause)


class TestDialectHooksSQLite(_DialectHookTests, base.DatabaseTestCase):
    pass


class TestDialectHooksMySQL(base.MySQLMixin, _DialectHookTests,
                            base.DatabaseTestCase):
    pass


class TestDialectHooksPostgreSQL(base.PostgreSQLMixin, _DialectHookTests,
                                 base.DatabaseTestCase):
    pass
