"""Reads in connection mode (``main_connection_reader`` and
``api_connection_reader``) behave as the ORM reads they replaced.

``instance_get_by_uuid`` and the mapping objects' lookups run SQLAlchemy
Core on a connection rather than an ORM session. A caller must not be able
to tell: the returned instance reads like the model, and inside a caller's
own transaction the read still sees that transaction's writes, flushed or
not, as the session's autoflush made it.
"""

import copy
import gc
import pickle
import weakref

from oslo_utils import uuidutils

from nova_cells import connections
from nova_cells import context
from nova_cells import exception
from nova_cells import objects
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import base


class Rollback(Exception):
    pass


class TestConnectionReads(base.DatabaseTestCase):

    def test_instance_record_reads_like_the_model(self):
        created = db_api.instance_create(self.context, {
            'host': 'h1', 'project_id': 'p1', 'display_name': 'vm'})
        model, = db_api.instance_get_all_by_filters(
            self.context, {'uuid': created.uuid})
        self.assertIsInstance(model, models.Instance)
        record = db_api.instance_get_by_uuid(self.context, created.uuid)

        self.assertEqual(model.as_dict(), record.as_dict())
        for column in models.Instance.__table__.columns.keys():
            expected = getattr(model, column)
            self.assertEqual(expected, getattr(record, column), column)
            self.assertEqual(expected, record[column], column)
            self.assertEqual(expected, record.get(column, 'unset'), column)
        self.assertEqual('default', record.get('colour', 'default'))
        self.assertRaises(AttributeError, record.__getitem__, 'colour')
        self.assertRaises(AttributeError, getattr, record, 'colour')

    def test_instance_record_is_read_only_and_copyable(self):
        created = db_api.instance_create(self.context, {'host': 'h1'})
        record = db_api.instance_get_by_uuid(self.context, created.uuid)
        self.assertRaises(AttributeError, setattr, record, 'host', 'h2')
        self.assertEqual('h1', record.host)
        for duplicate in (copy.copy(record), copy.deepcopy(record),
                          pickle.loads(pickle.dumps(record))):
            self.assertEqual(record.as_dict(), duplicate.as_dict())
        self.assertIn(str(created.id), repr(record))

    def test_read_sees_the_enclosing_transaction(self):
        manager = db_api.get_context_manager(self.context)
        try:
            with manager.writer.using(self.context):
                created = db_api.instance_create(self.context,
                                                 {'host': 'before'})
                # Changed on the ORM object only: not flushed yet.
                created.host = 'after'
                self.assertEqual('after', db_api.instance_get_by_uuid(
                    self.context, created.uuid).host)
                raise Rollback()
        except Rollback:
            pass
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_get_by_uuid, self.context,
                          created.uuid)

    def test_mapping_lookup_sees_the_enclosing_transaction(self):
        cell = objects.CellMapping(
            self.context, uuid=uuidutils.generate_uuid(), name='c1',
            transport_url='none:///',
            database_connection=self.database.main.url)
        instance_uuid = uuidutils.generate_uuid()
        manager = db_api.get_context_manager(self.context, 'api')
        try:
            with manager.writer.using(self.context):
                cell.create()
                objects.InstanceMapping(
                    self.context, instance_uuid=instance_uuid,
                    cell_mapping=cell, project_id='p1').create()
                found = objects.InstanceMapping.get_by_instance_uuid(
                    self.context, instance_uuid)
                self.assertEqual(cell.uuid, found.cell_mapping.uuid)
                self.assertEqual('c1', objects.CellMapping.get_by_uuid(
                    self.context, cell.uuid).name)
                raise Rollback()
        except Rollback:
            pass
        self.assertRaises(exception.InstanceMappingNotFound,
                          objects.InstanceMapping.get_by_instance_uuid,
                          self.context, instance_uuid)
        self.assertRaises(exception.CellMappingNotFound,
                          objects.CellMapping.get_by_uuid, self.context,
                          cell.uuid)


    def test_a_disposed_cells_facade_is_freed(self):
        # The decorators cache oslo.db's reader/writer managers per facade;
        # the cache must not keep a disposed cell's facade alive.
        url, = self.cell_database_urls(1)
        cell = objects.CellMapping(uuid=uuidutils.generate_uuid(),
                                   transport_url='none:///',
                                   database_connection=url)
        with context.target_cell(self.context, cell) as in_cell:
            uuid = db_api.instance_create(in_cell, {'host': 'h'}).uuid
            self.assertEqual('h', db_api.instance_get_by_uuid(
                in_cell, uuid).host)
            key = in_cell.db_connection
        registry = connections.get_registry()
        facade = weakref.ref(registry.context_manager(key))
        self.assertTrue(registry.dispose_database(key))
        gc.collect()
        self.assertIsNone(facade())


class TestConnectionReadsMySQL(base.MySQLMixin, TestConnectionReads):
    pass


class TestConnectionReadsPostgreSQL(base.PostgreSQLMixin,
                                    TestConnectionReads):
    pass
