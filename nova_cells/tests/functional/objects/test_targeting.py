"""target() on cell and instance mappings routes to the right cell."""

import sqlalchemy as sa
from oslo_utils import uuidutils

from nova_cells import connections
from nova_cells import exception
from nova_cells import objects
from nova_cells import urls
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import mappings

# Local transport URL with two hosts and passwords that need care.
LOCAL_TRANSPORT = ('rabbit://nova:p@ss:w/o%25rd@mq1:5672,'
                   'backup:x%40y@mq2:5673/top')
TRANSPORT_TEMPLATE = ('{scheme}://{username1}:{password1}@{hostname1}:'
                      '{port1},{username2}:{password2}@{hostname2}:{port2}'
                      '/cell_vhost')
FILLED_TRANSPORT = ('rabbit://nova:p@ss:w/o%25rd@mq1:5672,'
                    'backup:x%40y@mq2:5673/cell_vhost')


def instance_uuids_in(url: str) -> set[str]:
    """Instances in a main database, read with a plain engine."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(connection.execute(
                sa.select(models.Instance.uuid)).scalars())
    finally:
        engine.dispose()


def database_template(cell_url: str, local_url: str) -> str:
    """``cell_url`` written as a template over ``local_url``: every part
    the two share becomes a variable, the rest stays literal."""
    cell = urls.url_variables(cell_url)
    local = urls.url_variables(local_url)
    if cell['scheme'] != local['scheme']:
        raise ValueError('a template only fills from the same scheme')

    def part(name):
        value = cell[name]
        if value is None:
            return None
        return '{%s}' % name if value == local[name] else value

    netloc = ''
    if cell['hostname'] is not None:
        userinfo = part('username') or ''
        if cell['password'] is not None:
            userinfo += ':' + part('password')
        netloc = (userinfo + '@' if cell['username'] is not None else '')
        netloc += part('hostname')
        if cell['port'] is not None:
            netloc += ':' + part('port')
    template = '{scheme}://%s/%s' % (netloc, cell['path'])
    if cell['query']:
        template += '?' + cell['query']
    return template


class TestTargeting(mappings.ClassDatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.urls = self.cell_database_urls(2)
        self.cells = [
            mappings.create_cell(self.context, name='cell%d' % index,
                                database_connection=url,
                                transport_url='none:///')
            for index, url in enumerate(self.urls)]

    def create_instance(self, cell_context, uuid=None):
        uuid = uuid or uuidutils.generate_uuid()
        db_api.instance_create(cell_context, {'uuid': uuid,
                                              'project_id': 'p1'})
        return uuid

    def assert_only_in(self, uuid, url):
        for other in self.urls + [self.database.main.url]:
            present = uuid in instance_uuids_in(other)
            self.assertEqual(other == url, present,
                             'instance %s %s %s' % (
                                 uuid, 'missing from' if other == url
                                 else 'leaked into', other))

    def test_cell_mapping_target(self):
        cell = objects.CellMapping.get_by_uuid(self.context,
                                               self.cells[1].uuid)
        with cell.target(self.context) as cell_context:
            self.assertEqual(cell.uuid, cell_context.cell_uuid)
            uuid = self.create_instance(cell_context)
            self.assertEqual(uuid, db_api.instance_get_by_uuid(
                cell_context, uuid).uuid)
        self.assertIsNone(self.context.db_connection)
        self.assert_only_in(uuid, self.urls[1])
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_get_by_uuid, self.context, uuid)

    def test_instance_mapping_target(self):
        uuids = []
        for cell in self.cells:
            mapping = mappings.create_instance_mapping(self.context, cell)
            found = objects.InstanceMapping.get_by_instance_uuid(
                self.context, mapping.instance_uuid)
            with found.target(self.context) as cell_context:
                uuids.append(self.create_instance(
                    cell_context, mapping.instance_uuid))
        for uuid, url in zip(uuids, self.urls, strict=True):
            self.assert_only_in(uuid, url)

    def test_templated_urls_route(self):
        self.flags(transport_url=LOCAL_TRANSPORT)
        template = database_template(self.urls[0], self.database.main.url)
        self.assertIn('{scheme}', template)
        cell = mappings.create_cell(
            self.context, name='templated', database_connection=template,
            transport_url=TRANSPORT_TEMPLATE)
        found = objects.CellMapping.get_by_uuid(self.context, cell.uuid)
        self.assertEqual(self.urls[0], found.database_connection)
        self.assertEqual(template, found.stored_url('database_connection'))
        with found.target(self.context) as cell_context:
            uuid = self.create_instance(cell_context)
            registry = connections.get_registry()
            self.assertEqual(FILLED_TRANSPORT, registry.url_for_key(
                cell_context.mq_connection))
        self.assert_only_in(uuid, self.urls[0])

    def test_unfillable_template_refuses_to_route(self):
        template = '{scheme}://{username}:{password}@{hostname}/cell_vhost'
        cell = mappings.create_cell(self.context, name='broken',
                                   transport_url=template)
        self.flags(transport_url='rabbit://mq1:5672/')
        found = objects.CellMapping.get_by_uuid(self.context, cell.uuid)
        self.assertEqual(template, found.transport_url)
        self.assertIn('broken', [c.name for c in
                                 objects.CellMappingList.get_all(
                                     self.context)])
        error = self.assertRaises(exception.CellURLTemplateError,
                                  found.target, self.context)
        self.assertIn('{username}', str(error))
        self.assertIn('{password}', str(error))
        mapping = mappings.create_instance_mapping(self.context, found)
        self.assertRaises(
            exception.CellURLTemplateError,
            objects.InstanceMapping.get_by_instance_uuid(
                self.context, mapping.instance_uuid).target, self.context)


class TestTargetingMySQL(base.MySQLMixin, TestTargeting):
    pass


class TestTargetingPostgreSQL(base.PostgreSQLMixin, TestTargeting):
    pass
