"""The mapping objects' wire contract: versions, primitives, registry."""

import copy

import fixtures
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import exception as ovo_exception
from oslo_versionedobjects import fields
from oslo_versionedobjects import fixture as ovo_fixture

from nova_cells import objects
from nova_cells.objects import base
from nova_cells.tests.fixtures import base as test_base

CELL_UUID = '5b1f6d0e-9a42-4c5e-8f0e-2a4f3b1c9d11'
INSTANCE_UUID = 'a3c2b1d0-7e6f-4a5b-9c8d-1e2f3a4b5c6d'
SECRET = 'S3cret-pw'  # noqa: S105 - the password the tests hunt for

# A change to a field or to a remotable method's signature changes a hash:
# bump the object's VERSION, add the change to obj_make_compatible, then
# update the hash here. All but InstanceMapping equal the fingerprints Nova
# records for the same versions (nova/tests/unit/objects/test_objects.py);
# InstanceMapping differs only because user_id is nullable here.
OBJECT_HASHES = {
    'CellMapping': '1.1-5d652928000a5bc369d79d5bde7e497d',
    'CellMappingList': '1.1-496ef79bb2ab41041fff8bcb57996352',
    'HostMapping': '1.0-1a3390a696792a552ab7bd31a77ba9ac',
    'HostMappingList': '1.1-18ac2bfb8c1eb5545bed856da58a79bc',
    'InstanceMapping': '1.2-bc82537ca278eb17e11f7a89ad170984',
    'InstanceMappingList': '1.3-d34b6ebb076d542ae0f8b440534118da',
}
NOVA_INSTANCE_MAPPING_HASH = '1.2-3bd375e65c8eb9c45498d2f87b882e03'


def checker():
    return ovo_fixture.ObjectVersionChecker(
        base.NovaCellsObjectRegistry.obj_classes())


def cell_mapping(**overrides):
    values = dict(
        id=7, uuid=CELL_UUID, name='cell1',
        transport_url='rabbit://nova:%s@mq1:5672/cell1' % SECRET,
        database_connection='mysql+pymysql://nova:%s@db1/cell1' % SECRET,
        disabled=True)
    values.update(overrides)
    mapping = objects.CellMapping(**values)
    mapping.obj_reset_changes()
    return mapping


def nova_cell_mapping_primitive(version='1.1'):
    """What Nova's CellMapping.obj_to_primitive() emits, written by hand."""
    data = {
        'id': 7, 'uuid': CELL_UUID, 'name': 'cell1',
        'transport_url': 'rabbit://nova:pw@mq1:5672/cell1',
        'database_connection': 'mysql+pymysql://nova:pw@db1/cell1',
        'created_at': '2024-03-01T12:00:00Z', 'updated_at': None,
    }
    if version == '1.1':
        data['disabled'] = True
    return {
        'nova_object.name': 'CellMapping',
        'nova_object.namespace': 'nova',
        'nova_object.version': version,
        'nova_object.data': data,
        'nova_object.changes': ['name'],
    }


class TestObjectVersions(test_base.TestCase):

    def test_hashes(self):
        expected, actual = checker().test_hashes(OBJECT_HASHES)
        self.assertEqual(expected, actual,
                         'An object changed: bump its VERSION, handle the '
                         'change in obj_make_compatible, then update '
                         'OBJECT_HASHES.')

    def test_a_new_field_changes_the_hash(self):
        self.addCleanup(objects.CellMapping.fields.pop, 'spare', None)
        objects.CellMapping.fields['spare'] = fields.StringField()
        expected, actual = checker().test_hashes(OBJECT_HASHES)
        self.assertIn('CellMapping', actual)

    def test_only_nullable_user_id_separates_us_from_nova(self):
        self.addCleanup(objects.InstanceMapping.fields.__setitem__,
                        'user_id',
                        objects.InstanceMapping.fields['user_id'])
        objects.InstanceMapping.fields['user_id'] = fields.StringField()
        self.assertEqual(NOVA_INSTANCE_MAPPING_HASH,
                         checker().get_hashes()['InstanceMapping'])

    def test_relationships(self):
        expected_tree = {
            'HostMapping': {'CellMapping': '1.1'},
            'InstanceMapping': {'CellMapping': '1.1'},
        }
        expected, actual = checker().test_relationships(expected_tree)
        self.assertEqual(expected, actual)

    def test_compatibility_routines(self):
        checker().test_compatibility_routines()

    def test_compatibility_routines_with_manifest(self):
        # The fixture builds manifests from the shared registry; ours are
        # elsewhere (see objects/base.py).
        self.useFixture(fixtures.MockPatch(
            'oslo_versionedobjects.base.obj_tree_get_versions',
            base.obj_tree_get_versions))
        checker().test_compatibility_routines(use_manifest=True)

    def test_manifest_covers_nested_objects(self):
        self.assertEqual({'InstanceMappingList': '1.3',
                          'InstanceMapping': '1.2', 'CellMapping': '1.1'},
                         base.obj_tree_get_versions('InstanceMappingList'))


class TestMakeCompatible(test_base.TestCase):

    def data(self, obj, version):
        return obj.obj_to_primitive(target_version=version)[
            'nova_object.data']

    def test_cell_mapping_1_0_has_no_disabled(self):
        mapping = cell_mapping()
        self.assertNotIn('disabled', self.data(mapping, '1.0'))
        self.assertTrue(self.data(mapping, '1.1')['disabled'])

    def instance_mapping(self):
        return objects.InstanceMapping(
            id=1, instance_uuid=INSTANCE_UUID, cell_mapping=cell_mapping(),
            project_id='p', user_id='u', queued_for_delete=True)

    def test_instance_mapping_versions(self):
        mapping = self.instance_mapping()
        at_1_2 = self.data(mapping, '1.2')
        self.assertEqual(('u', True), (at_1_2['user_id'],
                                       at_1_2['queued_for_delete']))
        at_1_1 = self.data(mapping, '1.1')
        self.assertNotIn('user_id', at_1_1)
        self.assertTrue(at_1_1['queued_for_delete'])
        at_1_0 = self.data(mapping, '1.0')
        self.assertNotIn('user_id', at_1_0)
        self.assertNotIn('queued_for_delete', at_1_0)

    def test_nested_cell_is_backported_with_its_mapping(self):
        primitive = self.instance_mapping().obj_to_primitive(
            target_version='1.0')
        cell = primitive['nova_object.data']['cell_mapping']
        self.assertEqual('1.0', cell['nova_object.version'])
        self.assertNotIn('disabled', cell['nova_object.data'])

    def test_nested_cell_follows_the_manifest(self):
        primitive = self.instance_mapping().obj_to_primitive(
            target_version='1.2',
            version_manifest={'InstanceMapping': '1.2',
                              'CellMapping': '1.0'})
        cell = primitive['nova_object.data']['cell_mapping']
        self.assertEqual('1.0', cell['nova_object.version'])
        self.assertNotIn('disabled', cell['nova_object.data'])

    def test_cell_list_backports_its_cells(self):
        cells = objects.CellMappingList(objects=[cell_mapping()])
        primitive = cells.obj_to_primitive(target_version='1.0')
        cell = primitive['nova_object.data']['objects'][0]
        self.assertEqual('1.0', cell['nova_object.version'])
        self.assertNotIn('disabled', cell['nova_object.data'])

    def test_newer_target_than_ours_is_refused(self):
        self.assertRaises(ovo_exception.InvalidTargetVersion,
                          cell_mapping().obj_to_primitive,
                          target_version='1.2')


class TestNovaPrimitives(test_base.TestCase):

    def test_nova_1_1_cell_mapping_deserializes(self):
        mapping = objects.CellMapping.obj_from_primitive(
            nova_cell_mapping_primitive())
        self.assertIsInstance(mapping, objects.CellMapping)
        self.assertEqual((7, CELL_UUID, 'cell1', True),
                         (mapping.id, mapping.uuid, mapping.name,
                          mapping.disabled))
        self.assertEqual('mysql+pymysql://nova:pw@db1/cell1',
                         mapping.database_connection)
        self.assertEqual({'name'}, mapping.obj_what_changed())
        self.assertEqual(2024, mapping.created_at.year)

    def test_nova_1_0_cell_mapping_deserializes_without_disabled(self):
        mapping = objects.CellMapping.obj_from_primitive(
            nova_cell_mapping_primitive('1.0'))
        self.assertFalse(mapping.obj_attr_is_set('disabled'))
        self.assertEqual(CELL_UUID, mapping.uuid)

    def test_serializer_hydrates_nested_nova_primitives(self):
        primitive = {
            'nova_object.name': 'InstanceMapping',
            'nova_object.namespace': 'nova',
            'nova_object.version': '1.2',
            'nova_object.data': {
                'id': 3, 'instance_uuid': INSTANCE_UUID,
                'project_id': 'p', 'queued_for_delete': False,
                'cell_mapping': nova_cell_mapping_primitive(),
            },
        }
        serializer = objects.NovaCellsObjectSerializer()
        mapping = serializer.deserialize_entity(None, primitive)
        self.assertIsInstance(mapping, objects.InstanceMapping)
        self.assertIsInstance(mapping.cell_mapping, objects.CellMapping)
        # Nova leaves user_id unset for mappings without a user.
        self.assertIsNone(mapping.user_id)
        self.assertNotIn('user_id', mapping.obj_what_changed())

    def test_ours_serialize_in_novas_namespace(self):
        primitive = cell_mapping().obj_to_primitive()
        self.assertEqual('nova', primitive['nova_object.namespace'])
        self.assertEqual('CellMapping', primitive['nova_object.name'])
        self.assertEqual('1.1', primitive['nova_object.version'])
        self.assertEqual(CELL_UUID,
                         primitive['nova_object.data']['uuid'])

    def test_another_namespace_is_refused(self):
        primitive = nova_cell_mapping_primitive()
        primitive['nova_object.namespace'] = 'versionedobjects'
        self.assertRaises(ovo_exception.UnsupportedObjectError,
                          objects.CellMapping.obj_from_primitive, primitive)

    def test_a_none_user_id_travels_as_unset(self):
        # Nova declares user_id non-nullable: a None would not hydrate.
        mapping = objects.InstanceMapping(
            instance_uuid=INSTANCE_UUID, project_id='p', user_id=None)
        primitive = mapping.obj_to_primitive()
        self.assertNotIn('user_id', primitive['nova_object.data'])
        self.assertNotIn('user_id', primitive['nova_object.changes'])
        mapping.user_id = 'u'
        self.assertEqual('u', mapping.obj_to_primitive()[
            'nova_object.data']['user_id'])

    def test_round_trip(self):
        original = cell_mapping()
        copy_ = objects.CellMapping.obj_from_primitive(
            original.obj_to_primitive())
        self.assertEqual(original.obj_to_primitive(),
                         copy_.obj_to_primitive())


class NovaLikeObject(ovo_base.VersionedObject):
    """Stands in for Nova's NovaObject (the global registry, 'nova')."""

    OBJ_SERIAL_NAMESPACE = 'nova_object'
    OBJ_PROJECT_NAMESPACE = 'nova'


class TestRegistryIsolation(test_base.TestCase):
    """Nova's objects imported next to ours must not displace them."""

    def setUp(self):
        super().setUp()
        global_classes = ovo_base.VersionedObjectRegistry.obj_classes()
        saved = copy.copy(global_classes.get('CellMapping'))

        def restore():
            if saved is None:
                global_classes.pop('CellMapping', None)
            else:
                global_classes['CellMapping'] = saved
        self.addCleanup(restore)

        class CellMapping(NovaLikeObject):
            VERSION = '1.1'
            fields = dict(objects.CellMapping.fields)

        ovo_base.VersionedObjectRegistry.register(CellMapping)
        self.nova_class = CellMapping

    def test_our_classes_stay_out_of_the_shared_registry(self):
        shared = ovo_base.VersionedObjectRegistry.obj_classes()
        for name, classes in base.NovaCellsObjectRegistry.obj_classes(
                ).items():
            for cls in classes:
                self.assertNotIn(cls, shared.get(name, []), name)

    def test_each_side_hydrates_into_its_own_class(self):
        primitive = nova_cell_mapping_primitive()
        ours = objects.NovaCellsObjectSerializer().deserialize_entity(
            None, primitive)
        theirs = NovaLikeObject.obj_from_primitive(primitive)
        self.assertIs(objects.CellMapping, type(ours))
        self.assertIs(self.nova_class, type(theirs))
        # ...and the primitives are interchangeable.
        self.assertEqual(theirs.obj_to_primitive(),
                         ours.obj_to_primitive())

    def test_unknown_names_are_refused(self):
        primitive = nova_cell_mapping_primitive()
        primitive['nova_object.name'] = 'Instance'
        self.assertRaises(ovo_exception.UnsupportedObjectError,
                          objects.CellMapping.obj_from_primitive, primitive)

    def test_incompatible_major_version_is_refused(self):
        primitive = nova_cell_mapping_primitive()
        primitive['nova_object.version'] = '2.0'
        self.assertRaises(ovo_exception.IncompatibleObjectVersion,
                          objects.CellMapping.obj_from_primitive, primitive)


class TestPresentation(test_base.TestCase):

    def test_repr_and_str_mask_passwords(self):
        mapping = cell_mapping()
        for text in (repr(mapping), str(mapping),
                     repr(objects.InstanceMapping(cell_mapping=mapping)),
                     repr(objects.CellMappingList(objects=[mapping]))):
            self.assertNotIn(SECRET, text)
        self.assertIn('rabbit://nova:***@mq1:5672/cell1', repr(mapping))
        self.assertIn("name='cell1'", repr(mapping))

    def test_identity(self):
        self.assertEqual('%s(cell1)' % CELL_UUID, cell_mapping().identity)
        self.assertEqual(CELL_UUID, cell_mapping(name=None).identity)

    def test_is_cell0(self):
        self.assertTrue(cell_mapping(uuid=objects.CELL0_UUID).is_cell0())
        self.assertFalse(cell_mapping().is_cell0())
        self.assertFalse(objects.CellMapping().is_cell0())

    def test_public_names(self):
        self.assertEqual(
            ['CELL0_UUID', 'CellMapping', 'CellMappingList', 'HostMapping',
             'HostMappingList', 'InstanceMapping', 'InstanceMappingList',
             'NovaCellsObject', 'NovaCellsObjectRegistry',
             'NovaCellsObjectSerializer', 'register_all'],
            sorted(objects.__all__))
