"""Versioned mapping objects, wire-compatible with Nova's.

``CellMapping``, ``InstanceMapping`` and ``HostMapping`` (and their lists)
read and write the API database through
:mod:`nova_cells.db.sqlalchemy.api`, and ``target(ctxt)`` on a cell or
instance mapping routes a context to the cell. See :mod:`.base` for how
these coexist with Nova's own objects in one process.
"""

import importlib

from nova_cells.objects.base import NovaCellsObject
from nova_cells.objects.base import NovaCellsObjectRegistry
from nova_cells.objects.base import NovaCellsObjectSerializer
from nova_cells.objects.cell_mapping import CELL0_UUID
from nova_cells.objects.cell_mapping import CellMapping
from nova_cells.objects.cell_mapping import CellMappingList
from nova_cells.objects.host_mapping import HostMapping
from nova_cells.objects.host_mapping import HostMappingList
from nova_cells.objects.instance_mapping import InstanceMapping
from nova_cells.objects.instance_mapping import InstanceMappingList

# Every module defining a registered object, as Nova's register_all()
# lists its own.
_OBJECT_MODULES = ('cell_mapping', 'host_mapping', 'instance_mapping')


def register_all() -> None:
    """Register every nova_cells object class; safe to call again.

    Nova's services call ``nova.objects.register_all()`` before anything
    else; a fork calls this next to it. Importing a module registers its
    classes (in nova_cells' own registry, see :mod:`.base`), and a module
    is imported once per process, so a second call registers nothing
    twice.
    """
    for module in _OBJECT_MODULES:
        importlib.import_module('%s.%s' % (__name__, module))


__all__ = [
    'CELL0_UUID',
    'CellMapping',
    'CellMappingList',
    'HostMapping',
    'HostMappingList',
    'InstanceMapping',
    'InstanceMappingList',
    'NovaCellsObject',
    'NovaCellsObjectRegistry',
    'NovaCellsObjectSerializer',
    'register_all',
]
