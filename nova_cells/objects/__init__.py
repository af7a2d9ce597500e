"""Versioned mapping objects, wire-compatible with Nova's.

``CellMapping``, ``InstanceMapping`` and ``HostMapping`` (and their lists)
read and write the API database through
:mod:`nova_cells.db.sqlalchemy.api`, and ``target(ctxt)`` on a cell or
instance mapping routes a context to the cell. See :mod:`.base` for how
these coexist with Nova's own objects in one process.
"""

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
]
