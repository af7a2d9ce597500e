"""Mapping-object primitives, both ways, at every version Nova knows.

Reads ``{"ours": {name: {version: primitive}}}``: Nova hydrates each of
nova_cells' primitives and reports its fields. Writes back, for each
mapping object and every version Nova knows, a primitive Nova made from
the same values (``nova``), for nova_cells to hydrate, or None where Nova
cannot backport to that version.
"""

import novaside
import objectdata
from nova import objects
from nova.objects import base
from oslo_versionedobjects import exception as ovo_exception

ctxt, payload = novaside.start()

NAMES = ('CellMapping', 'InstanceMapping', 'HostMapping', 'CellMappingList',
         'InstanceMappingList', 'HostMappingList')

made = objectdata.sample(objects, ctxt, payload['values'])
result = {'versions': {}, 'read': {}, 'nova': {}}
for name in NAMES:
    cls = getattr(objects, name)
    result['versions'][name] = objectdata.versions(cls.VERSION)
    result['nova'][name] = {}
    for version in objectdata.versions(cls.VERSION):
        try:
            result['nova'][name][version] = made[name].obj_to_primitive(
                target_version=version)
        except ovo_exception.ObjectActionError:
            # No backport rule for a nested cell_mapping (Nova's
            # InstanceMapping, the lists' older versions).
            result['nova'][name][version] = None
    result['read'][name] = {}
    for version, primitive in payload['ours'].get(name, {}).items():
        if primitive is None:
            continue
        obj = base.NovaObject.obj_from_primitive(primitive, ctxt)
        result['read'][name][version] = dict(
            objectdata.described(obj), module=type(obj).__module__)
novaside.finish(result)
