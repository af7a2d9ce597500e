"""Versioned-object plumbing shared by the mapping objects.

The mapping objects travel between nova_cells and Nova services, so they
use Nova's wire format: primitives keyed ``nova_object.*`` in the ``nova``
object namespace, with Nova's object names and versions.

Our own registry
----------------
oslo.versionedobjects keeps **one** table of classes for every subclass of
:class:`~oslo_versionedobjects.base.VersionedObjectRegistry` in a process,
and ``obj_class_from_name`` reads that shared table. If Nova's objects were
imported next to ours, both ``CellMapping`` classes would register under the
same name and version, the later import would silently replace the earlier
one, and a primitive could hydrate into the other project's class.

:class:`NovaCellsObjectRegistry` therefore keeps a table of its own, and
:class:`NovaCellsObject` resolves names against it only. With Nova's
objects loaded in the same process:

* each project's serializer hydrates primitives into its *own* classes;
* primitives remain interchangeable, because both sides use the ``nova``
  namespace and the same names, versions and fields;
* ``nova.objects.CellMapping`` and ``nova_cells.objects.CellMapping`` are
  distinct classes: do not mix their instances in one object graph.
"""

import collections
from typing import Any

from oslo_utils import versionutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import exception as ovo_exception
from oslo_versionedobjects import fields

from nova_cells import exception

__all__ = [
    'NovaCellsObject',
    'NovaCellsObjectRegistry',
    'NovaCellsObjectSerializer',
    'OBJ_PROJECT_NAMESPACE',
    'OBJ_SERIAL_NAMESPACE',
    'TimestampedObject',
    'cell_mapping_for_write',
    'changes_for_write',
    'drop_fields_newer_than',
    'from_cached',
    'label',
    'make_list',
    'obj_tree_get_versions',
    'refuse_created',
    'require_fields',
    'row_filter',
]

#: The object namespace of Nova's objects, which these objects share.
OBJ_PROJECT_NAMESPACE = 'nova'
#: Prefix of the keys of a primitive (``nova_object.name``...).
OBJ_SERIAL_NAMESPACE = 'nova_object'


class NovaCellsObjectRegistry(ovo_base.VersionedObjectRegistry):
    """A class registry private to nova_cells (see the module docstring)."""

    _classes: collections.defaultdict = collections.defaultdict(list)

    def __new__(cls, *args: Any, **kwargs: Any):
        # Bypass the base class, which would hand us the process-wide table.
        registry = object.__new__(cls)
        registry._obj_classes = NovaCellsObjectRegistry._classes
        return registry


class NovaCellsObject(ovo_base.VersionedObject):
    """Base of every nova_cells object; Nova's wire namespace."""

    OBJ_SERIAL_NAMESPACE = OBJ_SERIAL_NAMESPACE
    OBJ_PROJECT_NAMESPACE = OBJ_PROJECT_NAMESPACE

    @classmethod
    def obj_class_from_name(cls, objname: str, objver: str):
        """The registered class for a name and a compatible version.

        Same rules as oslo.versionedobjects (exact version first, else the
        newest compatible one), applied to our registry only.
        """
        classes = NovaCellsObjectRegistry.obj_classes().get(objname)
        if not classes:
            raise ovo_exception.UnsupportedObjectError(objtype=objname)
        for candidate in classes:  # newest first
            if candidate.VERSION == objver:
                return candidate
        for candidate in classes:
            if versionutils.is_compatible(objver, candidate.VERSION):
                return candidate
        raise ovo_exception.IncompatibleObjectVersion(
            objname=objname, objver=objver, supported=classes[0].VERSION)


def obj_tree_get_versions(objname: str,
                          tree: dict[str, str] | None = None
                          ) -> dict[str, str]:
    """The version manifest of ``objname`` and every object it can hold.

    oslo.versionedobjects' own ``obj_tree_get_versions`` reads the shared
    registry, which does not hold our classes; RPC code sending a version
    manifest for these objects uses this one.
    """
    tree = {} if tree is None else tree
    if objname in tree:
        return tree
    objclass = NovaCellsObjectRegistry.obj_classes()[objname][0]
    tree[objname] = objclass.VERSION
    for field in objclass.fields.values():
        child = getattr(field, 'objname', None)
        if child is not None:
            obj_tree_get_versions(child, tree)
    return tree


class TimestampedObject:
    """``created_at`` / ``updated_at``, as Nova's mapping objects carry."""

    fields = {
        'created_at': fields.DateTimeField(nullable=True),
        'updated_at': fields.DateTimeField(nullable=True),
    }


class NovaCellsObjectSerializer(ovo_base.VersionedObjectSerializer):
    """RPC serializer that hydrates primitives into nova_cells objects."""

    OBJ_BASE_CLASS = NovaCellsObject


def make_list(context: Any, list_object: Any, item_class: type,
              db_rows: Any) -> Any:
    """Fill ``list_object`` with one ``item_class`` per database row.

    oslo.versionedobjects' ``obj_make_list`` finds the item class in the
    shared registry (or takes it through a deprecated argument); ours are
    in our own.
    """
    list_object.objects = [
        item_class._from_db_object(context, item_class(context), row)
        for row in db_rows]
    list_object._context = context
    list_object.obj_reset_changes()
    return list_object


def drop_fields_newer_than(primitive: dict, target_version: str,
                           history: dict[str, tuple[str, ...]]) -> None:
    """Remove from ``primitive`` the fields added after ``target_version``.

    ``history`` maps the version that added fields to their names, so each
    object's ``obj_make_compatible`` is its version history as data.
    """
    target = versionutils.convert_version_to_tuple(target_version)
    for version, added in history.items():
        if target < versionutils.convert_version_to_tuple(version):
            for name in added:
                primitive.pop(name, None)


def cell_mapping_for_write(cell_mapping: Any, action: str) -> int | None:
    """The ``cell_id`` to store for an assigned ``cell_mapping`` field.

    :raises ObjectActionError: the cell mapping has not been created yet.
    """
    if cell_mapping is None:
        return None
    if not cell_mapping.obj_attr_is_set('id'):
        uuid = (cell_mapping.uuid if cell_mapping.obj_attr_is_set('uuid')
                else '(without uuid)')
        raise exception.ObjectActionError(
            action=action,
            reason='its cell mapping %s has not been created yet' % uuid)
    return cell_mapping.id


def changes_for_write(mapping: Any, action: str) -> dict:
    """A mapping object's changed fields as the row values to write: its
    id never (the database assigns it), its ``cell_mapping`` as the
    ``cell_id`` column.

    :raises ObjectActionError: the cell mapping has not been created yet.
    """
    updates = mapping.obj_get_changes()
    updates.pop('id', None)
    if 'cell_mapping' in updates:
        updates['cell_id'] = cell_mapping_for_write(
            updates.pop('cell_mapping'), action)
    return updates


def from_cached(cls: type, context: Any, attributes: tuple, values: tuple,
                **loaded: Any) -> Any:
    """A mapping object as loaded, rebuilt from the values the mapping
    cache kept for it: set straight into the object's attributes, without
    ``setattr``'s per-field checks (they were done when it was loaded);
    ``loaded`` adds the look-up key and the cell (``_obj_<field>=...``).
    """
    mapping = cls.__new__(cls)
    state = mapping.__dict__
    state.update(zip(attributes, values, strict=True))
    state.update(loaded)
    state['_changed_fields'] = set()
    state['_context'] = context
    return mapping


def row_filter(mapping: Any, table: Any, key: str, what: str) -> Any:
    """WHERE clause finding a mapping's row: by id if known, else by its
    ``key`` column.

    :raises ObjectActionError: the mapping has neither (``what`` names it).
    """
    if mapping.obj_attr_is_set('id'):
        return table.c.id == mapping.id
    if mapping.obj_attr_is_set(key):
        return table.c[key] == getattr(mapping, key)
    raise exception.ObjectActionError(
        action='find %s' % what, reason='it has neither id nor %s' % key)


def label(mapping: Any, key: str) -> str:
    """A mapping as messages name it: its ``key``, else its database id."""
    if mapping.obj_attr_is_set(key):
        return getattr(mapping, key)
    return 'with id %s' % mapping.id


def refuse_created(mapping: Any, action: str) -> None:
    """:raises ObjectActionError: ``mapping`` was created already."""
    if mapping.obj_attr_is_set('id'):
        raise exception.ObjectActionError(
            action=action, reason='it already exists (id %s)' % mapping.id)


def require_fields(mapping: Any, action: str, required: tuple) -> None:
    """:raises ObjectActionError: a ``required`` field is not set."""
    missing = [name for name in required if not mapping.obj_attr_is_set(name)]
    if missing:
        raise exception.ObjectActionError(
            action=action,
            reason='missing field(s) %s' % ', '.join(missing))
