"""Nova's names for nova_cells' own objects, helpers and decorators.

Code written for Nova calls ``objects.register_all()``, fills URLs with
``CellMapping.format_*_url``, decorates DB API functions with
``pick_context_manager_*`` and imports scatter-gather from the context
module. Each name must be the project's own implementation, not a copy.
"""

import sqlalchemy as sa
import testtools
from oslo_config import cfg

from nova_cells import conf as nova_cells_conf
from nova_cells import context
from nova_cells import exception
from nova_cells import objects
from nova_cells import scatter_gather
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.objects import base as objects_base
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import database as database_fixture


class RegisterAllTestCase(base.TestCase):

    def _registered(self):
        return {name: [cls.VERSION for cls in classes]
                for name, classes in
                objects_base.NovaCellsObjectRegistry.obj_classes().items()}

    def test_registers_every_mapping_object_once(self):
        objects.register_all()
        first = self._registered()
        objects.register_all()
        self.assertEqual(first, self._registered())
        for name in ('CellMapping', 'CellMappingList', 'InstanceMapping',
                     'InstanceMappingList', 'HostMapping',
                     'HostMappingList'):
            self.assertEqual(1, len(first[name]), name)
        self.assertIs(objects.CellMapping,
                      objects_base.NovaCellsObject.obj_class_from_name(
                          'CellMapping', objects.CellMapping.VERSION))


class FormatURLTestCase(base.TestCase):

    def test_db_url_filled_from_local_database(self):
        self.flags(group='database',
                   connection='mysql+pymysql://nova:s3cret@db1/nova')
        self.assertEqual(
            'mysql+pymysql://nova:s3cret@db1/nova_cell1',
            objects.CellMapping.format_db_url(
                'mysql+pymysql://{username}:{password}@{hostname}/'
                'nova_cell1'))

    def test_mq_url_filled_from_local_transport(self):
        self.flags(transport_url='rabbit://guest:pw@mq1:5672/')
        self.assertEqual(
            'rabbit://guest:pw@mq1:5672/cell1',
            objects.CellMapping.format_mq_url(
                'rabbit://{username}:{password}@{hostname}:{port}/cell1'))

    def test_plain_url_unchanged(self):
        url = 'rabbit://guest:pw@mq2:5672/'
        self.assertEqual(url, objects.CellMapping.format_mq_url(url))

    def test_unfillable_template_comes_back_unchanged(self):
        # As Nova's: nova-manage then reports the URL it cannot parse.
        self.flags(transport_url='rabbit://mq1:5672/')
        template = 'rabbit://{username}:{password}@{hostname}/'
        self.assertEqual(template,
                         objects.CellMapping.format_mq_url(template))


class DBAPIAliasTestCase(base.TestCase):

    def test_decorators_are_the_projects_own(self):
        self.assertIs(db_api.main_reader, db_api.pick_context_manager_reader)
        self.assertIs(db_api.main_writer, db_api.pick_context_manager_writer)
        self.assertIs(db_api.main_async_reader,
                      db_api.pick_context_manager_reader_allow_async)


class ContextAliasTestCase(base.TestCase):

    def test_scatter_gather_importable_from_context(self):
        from nova_cells.context import scatter_gather_all_cells
        from nova_cells.context import scatter_gather_cells
        from nova_cells.context import scatter_gather_single_cell
        from nova_cells.context import scatter_gather_skip_cell0

        self.assertIs(scatter_gather.scatter_gather_cells,
                      scatter_gather_cells)
        self.assertIs(scatter_gather.scatter_gather_all_cells,
                      scatter_gather_all_cells)
        self.assertIs(scatter_gather.scatter_gather_skip_cell0,
                      scatter_gather_skip_cell0)
        self.assertIs(scatter_gather.scatter_gather_single_cell,
                      scatter_gather_single_cell)
        self.assertIs(scatter_gather.did_not_respond_sentinel,
                      context.did_not_respond_sentinel)
        self.assertIs(scatter_gather.is_cell_failure,
                      context.is_cell_failure_sentinel)
        self.assertIn('scatter_gather_cells', dir(context))

    def test_unknown_name_is_an_attribute_error(self):
        self.assertRaises(AttributeError, getattr, context,
                          'scatter_gather_everything')


@db_api.pick_context_manager_reader
def _count_instances(ctxt):
    return ctxt.session.execute(
        sa.select(sa.func.count()).select_from(models.Instance)).scalar()


@db_api.pick_context_manager_reader_allow_async
def _count_instances_async(ctxt):
    return ctxt.session.execute(
        sa.select(sa.func.count()).select_from(models.Instance)).scalar()


class StrictTargetingTestCase(base.DatabaseTestCase):
    """``[cells] require_targeted_context`` catches forgotten targeting."""

    def setUp(self):
        super().setUp()
        url = self.useFixture(database_fixture.SchemaDatabase(
            database_fixture.MAIN, name='cell1')).url
        self.cell = objects.CellMapping(
            uuid='c1000000-0000-0000-0000-000000000001', name='cell1',
            database_connection=url, transport_url='fake://')
        with self.cell.target(self.context) as cctxt:
            db_api.instance_create(cctxt, {'uuid': 'i1', 'project_id': 'p'})

    def test_off_by_default_untargeted_uses_local_database(self):
        self.assertFalse(self.conf.cells.require_targeted_context)
        self.assertEqual(0, db_api.instance_count(self.context))
        self.assertEqual(0, _count_instances(self.context))

    def test_on_untargeted_call_names_the_function(self):
        self.flags(group='cells', require_targeted_context=True)
        for function, name in (
                (db_api.instance_count, 'instance_count'),
                (db_api.compute_node_get_all, 'compute_node_get_all'),
                (db_api.instance_get_all_by_filters,
                 'instance_get_all_by_filters'),
                (_count_instances, '_count_instances'),
                (_count_instances_async, '_count_instances_async')):
            error = self.assertRaises(
                exception.UntargetedContext, function, self.context)
            self.assertIn(name, str(error))
        error = self.assertRaises(
            exception.UntargetedContext, db_api.instance_get_by_uuid,
            self.context, 'i1')
        self.assertIn('instance_get_by_uuid', str(error))
        error = self.assertRaises(
            exception.UntargetedContext, db_api.instance_create,
            self.context, {'uuid': 'i2'})
        self.assertIn('instance_create', str(error))

    def test_on_targeted_calls_and_api_database_work(self):
        self.flags(group='cells', require_targeted_context=True)
        with self.cell.target(self.context) as cctxt:
            self.assertEqual(1, db_api.instance_count(cctxt))
            self.assertEqual(1, _count_instances(cctxt))
            self.assertEqual(1, _count_instances_async(cctxt))
            self.assertEqual('i1',
                             db_api.instance_get_by_uuid(cctxt, 'i1').uuid)
        # The API database is never a cell's: no targeting needed.
        self.assertEqual([], list(objects.HostMappingList.get_all(
            self.context)))



class SharedOptionsTestCase(testtools.TestCase):
    """In a Nova process, options Nova registered first are kept."""

    def test_nova_definitions_of_shared_options_stay(self):
        conf = cfg.ConfigOpts()
        conf.register_opts([
            cfg.StrOpt('state_path', default='/var/lib/nova'),
            cfg.StrOpt('control_exchange', default='nova')])
        nova_cells_conf.register_all(conf)
        conf([])
        self.assertEqual('/var/lib/nova', conf.state_path)
        self.assertEqual('nova', conf.control_exchange)
        self.assertFalse(conf.cells.require_targeted_context)
