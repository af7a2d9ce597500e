"""SQLite allows one writer per file: a targeted write nested inside a
write transaction on the same SQLite cell fails at once, naming the
reason, instead of waiting the whole busy timeout for its own thread."""

import threading

from oslo_db import exception as db_exception

from nova_cells import context
from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.functional.db import test_routing


class TestNestedWrite(test_routing.RoutingTestCase):

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
