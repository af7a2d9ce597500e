"""nova_cells against real Nova 34, each Nova step in a subprocess.

Nova runs from its own virtualenv (``nova_cells/testing/novaenv.py``),
never in this process: both projects register objects in the ``nova``
namespace. Each
test checks one promise to a Nova fork: Nova reads the API database this
project made; mapping primitives cross in both directions at every version
both know; instances this project writes in a cell database Nova made are
what Nova reads back (and the other way); and databases Nova's alembic
lines made are adopted without touching anything of Nova's, with Nova
still migrating them afterwards.
"""

import datetime

from oslo_versionedobjects import exception as ovo_exception

from nova_cells import objects
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.objects import base as objects_base
from nova_cells.tests.fixtures import migration_suite
from nova_cells.tests.fixtures import nova as nova_fixture
from nova_cells.tests.fixtures import schema_snapshot as schema
from nova_cells.tests.functional.with_nova.nova_side import objectdata

CELL0 = objects.CELL0_UUID
CELL1 = 'c1111111-1111-4111-8111-111111111111'
CELL2 = 'c2222222-2222-4222-8222-222222222222'
INSTANCE_A = 'a0000000-0000-4000-8000-00000000000a'
INSTANCE_B = 'b0000000-0000-4000-8000-00000000000b'
INSTANCE_C = 'c0000000-0000-4000-8000-00000000000c'


class TestNovaReadsOurAPIDatabase(nova_fixture.NovaTestCase):

    def test_cells_instance_and_host_mappings_and_list_queries(self):
        migration.db_sync(database=migration.API)
        cell0 = objects.CellMapping(
            self.context, uuid=CELL0, name='cell0', transport_url='none:///',
            database_connection=self.sqlite_url('cell0'))
        cell1 = objects.CellMapping(
            self.context, uuid=CELL1, name='cell1',
            transport_url='rabbit://{username}:{password}@mq1:5672/',
            database_connection=self.sqlite_url('cell1'))
        cell2 = objects.CellMapping(
            self.context, uuid=CELL2, name='cell2', disabled=True,
            transport_url='fake://cell2',
            database_connection=self.sqlite_url('cell2'))
        for cell in (cell0, cell1, cell2):
            cell.create()
        for uuid, cell, user in ((INSTANCE_A, cell1, 'alice'),
                                 (INSTANCE_B, cell2, None),
                                 (INSTANCE_C, None, 'bob')):
            objects.InstanceMapping(
                self.context, instance_uuid=uuid, cell_mapping=cell,
                project_id='demo', user_id=user).create()
        for host, cell in (('compute-1', cell1), ('compute-2', cell2)):
            objects.HostMapping(self.context, host=host,
                                cell_mapping=cell).create()

        seen = self.nova.script('read_api', self.nova_conf, {
            'project_id': 'demo', 'cell_uuids': [CELL0, CELL1, CELL2],
            'instance_uuids': [INSTANCE_A, INSTANCE_B, INSTANCE_C],
            'hosts': ['compute-1', 'compute-2']})

        ours = objects.CellMappingList.get_all(self.context)
        # Templates included: both fill them from the same local URL.
        self.assertEqual('rabbit://guest:guest@mq1:5672/',
                         ours[1].transport_url)
        self.assertEqual([objectdata.fields_of(cell) for cell in ours],
                         seen['cells'])
        self.assertEqual([CELL0, CELL1], seen['enabled_cells'])
        self.assertEqual([CELL2], seen['disabled_cells'])
        self.assertEqual([CELL1, CELL2], sorted(seen['cells_by_project']))
        self.assertEqual(sorted([CELL0, CELL1, CELL2]),
                         sorted(seen['cell_by_uuid']))
        for uuid in (INSTANCE_A, INSTANCE_B, INSTANCE_C):
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                self.context, uuid)
            expected = objectdata.fields_of(mapping)
            if mapping.user_id is None:
                # Nova's mapping leaves a missing user unset.
                expected.pop('user_id')
            self.assertEqual(expected, seen['instance_mappings'][uuid])
        every = sorted([INSTANCE_A, INSTANCE_B, INSTANCE_C])
        self.assertEqual(every, seen['instance_mappings_by_project'])
        self.assertEqual(every, seen['instance_mappings_by_uuids'])
        self.assertEqual({str(cell0.id): [], str(cell1.id): [INSTANCE_A],
                          str(cell2.id): [INSTANCE_B]},
                         seen['instance_mappings_by_cell'])
        self.assertEqual(
            objects.InstanceMappingList.get_counts(self.context, 'demo'),
            seen['instance_counts'])
        for host in ('compute-1', 'compute-2'):
            self.assertEqual(objectdata.fields_of(objects.HostMapping.get_by_host(
                self.context, host)), seen['host_mappings'][host])
        self.assertEqual(['compute-1', 'compute-2'], seen['all_hosts'])
        self.assertEqual({str(cell0.id): [], str(cell1.id): ['compute-1'],
                          str(cell2.id): ['compute-2']},
                         seen['hosts_by_cell'])


SAMPLE = {
    'cell': dict(id=3, uuid=CELL1, name='cell1',
                 transport_url='rabbit://u:p@mq1:5672/',
                 database_connection='mysql+pymysql://u:p@db1/nova_cell1',
                 disabled=True, created_at='2026-01-02T03:04:05',
                 updated_at=None),
    'instance_mapping': dict(id=7, instance_uuid=INSTANCE_A,
                             project_id='demo', user_id='alice',
                             queued_for_delete=True,
                             created_at='2026-01-02T03:04:06',
                             updated_at=None),
    'host_mapping': dict(id=9, host='compute-1', created_at=None,
                         updated_at='2026-01-02T03:04:07'),
}
_OBJECT_NAMES = ('CellMapping', 'InstanceMapping', 'HostMapping')
_LIST_NAMES = ('CellMappingList', 'InstanceMappingList', 'HostMappingList')


def _our_sample(context) -> dict:
    return objectdata.sample(objects, context, SAMPLE)


def _primitive(obj, version: str) -> dict | None:
    """``obj`` at ``version``, or None where it cannot be backported."""
    try:
        return obj.obj_to_primitive(target_version=version)
    except ovo_exception.ObjectActionError:
        return None


def _fields_at(name: str, version: str) -> dict:
    """SAMPLE's fields of ``name`` as a receiver of ``version`` has them."""
    obj = _our_sample(None)[name]
    hydrated = objects_base.NovaCellsObject.obj_from_primitive(
        obj.obj_to_primitive(target_version=version))
    return objectdata.described(hydrated)


class TestPrimitives(nova_fixture.NovaTestCase):
    """Every mapping object and list, at every version both sides know."""

    def test_primitives_deserialize_both_ways(self):
        ours = _our_sample(self.context)
        our_versions = {name: objectdata.versions(ours[name].VERSION)
                        for name in ours}
        primitives = {name: {version: _primitive(ours[name], version)
                             for version in our_versions[name]}
                      for name in ours}
        seen = self.nova.script('primitives', self.nova_conf, {
            'ours': primitives, 'values': SAMPLE})

        for name in _OBJECT_NAMES + _LIST_NAMES:
            both = [version for version in our_versions[name]
                    if version in seen['versions'][name]]
            self.assertEqual(our_versions[name], both, name)
            # Where a version cannot be produced (None), the sender has no
            # backport rule for a nested cell_mapping: Nova's
            # InstanceMapping and every older list version. This project
            # produces every version Nova does, and its own current one.
            ours_ok = [v for v in both if primitives[name][v] is not None]
            nova_ok = [v for v in both if seen['nova'][name][v] is not None]
            self.assertLessEqual(set(nova_ok), set(ours_ok), name)
            self.assertIn(ours[name].VERSION, nova_ok)
            for version in ours_ok:
                # Ours, read by Nova: Nova's class, the same fields.
                read = seen['read'][name][version]
                self.assertTrue(read.pop('module').startswith(
                    'nova.objects.'), name)
                self.assertEqual(_fields_at(name, version), read,
                                 '%s %s read by Nova' % (name, version))
            for version in nova_ok:
                # Nova's, read here: our class, the same fields.
                obj = objects_base.NovaCellsObject.obj_from_primitive(
                    seen['nova'][name][version], self.context)
                self.assertTrue(type(obj).__module__.startswith(
                    'nova_cells.objects.'), name)
                self.assertEqual(_fields_at(name, version),
                                 objectdata.described(obj),
                                 '%s %s from Nova' % (name, version))


class TestInstancesInNovasCellDatabase(nova_fixture.NovaTestCase):
    """This project's DB API on a cell database Nova made."""

    def test_write_update_soft_delete_and_read_back(self):
        cell_url = self.sqlite_url('cell1')
        cell_conf = self.write_nova_conf('cell1.conf', cell_url)
        self.nova_manage('api_db', 'sync')
        self.nova_manage('db', 'sync', conf=cell_conf)
        migration.db_sync(database=migration.API)
        cell = objects.CellMapping(self.context, uuid=CELL1, name='cell1',
                                   transport_url='fake://',
                                   database_connection=cell_url)
        cell.create()
        launched = datetime.datetime(2026, 1, 2, 3, 4, 5)
        with cell.target(self.context) as cctxt:
            migration.db_sync(database=migration.MAIN, context=cctxt)
            for uuid, name in ((INSTANCE_A, 'vm-a'), (INSTANCE_B, 'vm-b')):
                db_api.instance_create(cctxt, {
                    'uuid': uuid, 'project_id': 'demo', 'user_id': 'alice',
                    'display_name': name, 'hostname': name,
                    'host': 'compute-1', 'node': 'node-1',
                    'vm_state': 'building', 'power_state': 0,
                    'availability_zone': 'az1', 'launched_at': launched})
            db_api.instance_update(cctxt, INSTANCE_A, {
                'vm_state': 'active', 'power_state': 1,
                'display_name': 'vm-a2'})
            db_api.instance_destroy(cctxt, INSTANCE_B)

        seen = self.nova.script('instances', cell_conf, {
            'read': [INSTANCE_A, INSTANCE_B],
            'create': [{'uuid': INSTANCE_C, 'project_id': 'demo',
                        'user_id': 'bob', 'display_name': 'vm-c',
                        'vm_state': 'active', 'host': 'compute-2'}]})

        with cell.target(self.context) as cctxt:
            reader = cctxt.elevated(read_deleted='yes')
            for uuid in (INSTANCE_A, INSTANCE_B):
                ours = db_api.instance_get_by_uuid(reader, uuid)
                nova = seen['read'][uuid]
                for name, value in nova.items():
                    if name == 'deleted':
                        # Nova's object turns the row's deleted (its id
                        # once soft-deleted) into a boolean.
                        self.assertEqual(bool(ours[name]), value, name)
                    else:
                        self.assertEqual(objectdata.plain(ours[name]), value,
                                         name)
            self.assertEqual('vm-a2', seen['read'][INSTANCE_A]['display_name'])
            self.assertEqual('active', seen['read'][INSTANCE_A]['vm_state'])
            self.assertFalse(seen['read'][INSTANCE_A]['deleted'])
            self.assertTrue(seen['read'][INSTANCE_B]['deleted'])
            self.assertIsNotNone(seen['read'][INSTANCE_B]['deleted_at'])
            self.assertEqual(sorted([INSTANCE_A, INSTANCE_C]), seen['live'])
            # What Nova wrote, read here.
            self.assertEqual([INSTANCE_C], seen['created'])
            made_by_nova = db_api.instance_get_by_uuid(cctxt, INSTANCE_C)
            self.assertEqual(('vm-c', 'bob', 'compute-2'), (
                made_by_nova.display_name, made_by_nova.user_id,
                made_by_nova.host))
            self.assertEqual(
                sorted([INSTANCE_A, INSTANCE_C]),
                sorted(instance.uuid for instance in
                       db_api.instance_get_all_by_filters(cctxt)))


class TestAdoption(nova_fixture.NovaTestCase):
    """Databases Nova's alembic lines made, adopted; Nova still migrates
    them afterwards, and both read the same rows."""

    @staticmethod
    def _nova_revision(url: str) -> list:
        """What Nova's own alembic_version holds (read directly: cheaper
        than one more nova-manage process)."""
        return [row['version_num'] for row in schema.inspect(
            url, lambda _inspector, connection: schema.rows(
                connection, 'alembic_version'))]

    def test_adopt_nova_databases_and_nova_still_migrates_them(self):
        cell1_url = self.sqlite_url('cell1')
        cell1_conf = self.write_nova_conf('cell1.conf', cell1_url)
        # Nova at an older revision of each line, cells mapped by Nova.
        self.nova_manage('api_db', 'sync', nova_fixture.NOVA_API_FIRST)
        self.nova_manage('db', 'sync', nova_fixture.NOVA_MAIN_FIRST)
        self.nova_manage('db', 'sync', nova_fixture.NOVA_MAIN_FIRST,
                         conf=cell1_conf)
        self.nova_manage('cell_v2', 'map_cell0',
                         '--database_connection', self.main_url)
        self.nova_manage('cell_v2', 'create_cell', '--name', 'cell1',
                         '--database_connection', cell1_url,
                         '--transport-url', 'fake://cell1')
        urls = {migration.API: [self.api_url],
                migration.MAIN: [self.main_url, cell1_url]}
        before = {url: schema.snapshot(url)
                  for line in urls for url in urls[line]}

        # nova_cells adopts them: the API database, then every cell's.
        migration.db_sync(database=migration.API)
        for cell in objects.CellMappingList.get_all(self.context):
            with cell.target(self.context) as cctxt:
                migration.db_sync(database=migration.MAIN, context=cctxt)
        for line, line_urls in urls.items():
            for url in line_urls:
                after = schema.snapshot(url)
                migration_suite.assert_only_own_objects_added(
                    self, before[url], after, line)
        self.assertEqual(migration.head(migration.API),
                         migration.db_version(migration.API))
        self.assertEqual([nova_fixture.NOVA_API_FIRST],
                         self._nova_revision(self.api_url))

        # Nova migrates on, to its head, on the adopted databases.
        self.nova_manage('api_db', 'sync')
        self.nova_manage('db', 'sync')
        self.nova_manage('db', 'sync', conf=cell1_conf)
        self.assertEqual([nova_fixture.NOVA_API_HEAD],
                         self._nova_revision(self.api_url))
        self.assertEqual([nova_fixture.NOVA_MAIN_HEAD],
                         self._nova_revision(cell1_url))
        # ... and nova_cells' sync after Nova's changes nothing.
        adopted = {url: schema.snapshot(url)
                   for line in urls for url in urls[line]}
        migration.db_sync(database=migration.API)
        self.assertEqual(adopted[self.api_url], schema.snapshot(self.api_url))

        # Both read the same rows: cells Nova mapped, mappings made here.
        cells = objects.CellMappingList.get_all(self.context)
        self.assertEqual(['cell0', 'cell1'], [cell.name for cell in cells])
        objects.InstanceMapping(self.context, instance_uuid=INSTANCE_A,
                                cell_mapping=cells[1],
                                project_id='demo').create()
        objects.HostMapping(self.context, host='compute-1',
                            cell_mapping=cells[1]).create()
        seen = self.nova.script('read_api', self.nova_conf, {
            'project_id': 'demo', 'cell_uuids': [cell.uuid for cell in cells],
            'instance_uuids': [INSTANCE_A], 'hosts': ['compute-1']})
        self.assertEqual([cell.uuid for cell in cells],
                         [cell['uuid'] for cell in seen['cells']])
        self.assertEqual(cells[1].uuid,
                         seen['instance_mappings'][INSTANCE_A]['cell_mapping'])
        self.assertEqual(cells[1].uuid,
                         seen['host_mappings']['compute-1']['cell_mapping'])
