"""Object data both sides of the Nova tests build and describe alike.

Plain Python, importing neither project: the nova_side scripts use it
under Nova's interpreter with Nova's ``objects`` module, the tests under
nova_cells' with nova_cells'. The same code on both sides means a
difference found is the projects', not the helpers'.
"""

import datetime

from oslo_utils import versionutils


def plain(value):
    """A field value as JSON carries it (naive UTC ISO for datetimes)."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def fields_of(obj, names=None) -> dict:
    """The set fields of an object as JSON-ready values; a nested
    CellMapping becomes its uuid."""
    values = {}
    for name in sorted(names or obj.fields):
        if not obj.obj_attr_is_set(name):
            continue
        value = getattr(obj, name)
        if name == 'cell_mapping':
            value = value.uuid if value is not None else None
        values[name] = plain(value)
    return values


def described(obj) -> dict:
    """Class name, version and fields; a list's items described in turn."""
    if 'objects' in obj.fields:
        return {'class': type(obj).__name__, 'version': obj.VERSION,
                'objects': [described(item) for item in obj.objects]}
    return {'class': type(obj).__name__, 'version': obj.VERSION,
            'fields': fields_of(obj)}


def versions(version: str) -> list[str]:
    """Every minor version from x.0 up to ``version``."""
    major, minor = versionutils.convert_version_to_tuple(version)
    return ['%d.%d' % (major, step) for step in range(minor + 1)]


def _with_times(values: dict) -> dict:
    values = dict(values)
    for name in ('created_at', 'updated_at'):
        if values.get(name):
            values[name] = datetime.datetime.fromisoformat(
                values[name]).replace(tzinfo=datetime.timezone.utc)
    return values


def sample(objects, context, values: dict) -> dict:
    """Every mapping object and list, built with ``objects`` (either
    project's module) from ``values`` ({'cell', 'instance_mapping',
    'host_mapping'} field dicts)."""
    cell = objects.CellMapping(context, **_with_times(values['cell']))
    instance = objects.InstanceMapping(
        context, cell_mapping=cell,
        **_with_times(values['instance_mapping']))
    host = objects.HostMapping(context, cell_mapping=cell,
                               **_with_times(values['host_mapping']))
    return {'CellMapping': cell, 'InstanceMapping': instance,
            'HostMapping': host,
            'CellMappingList': objects.CellMappingList(objects=[cell]),
            'InstanceMappingList': objects.InstanceMappingList(
                objects=[instance]),
            'HostMappingList': objects.HostMappingList(objects=[host])}
