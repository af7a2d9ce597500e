"""``delete_cell``: remove a cell and everything mapped to it, or nothing.

It refuses cell0 unless ``force_cell0`` is given, and a cell with hosts or
instance mappings unless ``force`` is (never one with live instances). The
cell's instance mappings, host mappings, map_instances resume point and the
cell itself go in one API database transaction
(:func:`~nova_cells.db.sqlalchemy.mapping_admin.cell_destroy_with_mappings`):
all or nothing.
"""

from nova_cells import cell_cache
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import retry
from nova_cells.cells_admin import url_sharing
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'delete_cell',
]

_CellMapping = cell_mapping_obj.CellMapping
_Counts = mapping_admin.MappingCounts


def _refuse_if_not_empty(cell: _CellMapping, counts: _Counts, force: bool,
                         live_instances: int) -> None:
    if counts.hosts and not force:
        raise exception.CellHasHosts(cell=cell.identity, count=counts.hosts)
    if counts.instance_mappings:
        if live_instances:
            raise exception.CellHasInstances(cell=cell.identity,
                                             count=live_instances)
        if not force:
            raise exception.CellHasInstanceMappings(
                cell=cell.identity, count=counts.instance_mappings)


class _MappingsAppeared(Exception):
    """Mappings were added to the cell after its checks had passed."""


#: Times delete_cell checks again when mappings appear meanwhile.
_DELETE_ATTEMPTS = 3
#: Instance uuids looked up in a cell's database per query.
_UUID_BATCH = 500


def _delete_cell_rows(ctxt, cell: _CellMapping, force: bool,
                      checked: _Counts, live_instances: int) -> _Counts:
    """Delete the cell and what maps to it in one API transaction.

    The counts are taken again inside the transaction. A host or instance
    mapping added since ``checked`` was taken has not been checked (its
    compute node flagged unmapped, its instance's liveness counted), so
    then nothing is deleted and :exc:`_MappingsAppeared` is raised.
    """
    def check(counts: _Counts) -> None:
        if (counts.hosts > checked.hosts or
                counts.instance_mappings > checked.instance_mappings):
            raise _MappingsAppeared()
        _refuse_if_not_empty(cell, counts, force, live_instances)

    return mapping_admin.cell_destroy_with_mappings(ctxt, cell.id, cell.uuid,
                                                    check)


def _refuse_if_instances_missing(ctxt, cctxt, cell: _CellMapping,
                                 mapped: int) -> None:
    """:raises CellDatabaseMismatch: instances mapped to the cell are not
    in its database at all, not even deleted.

    "No live instance" must come from the cell's real database: a
    mistyped URL that reaches an empty (or freshly migrated) database
    would otherwise let ``--force`` remove the mappings of live
    instances.
    """
    uuids = mapping_admin.instance_mapping_uuids(ctxt, cell.id)
    everything = cctxt.elevated(read_deleted='yes')
    found = sum(db_api.instance_count(everything,
                                      {'uuid': uuids[start:start +
                                                     _UUID_BATCH]})
                for start in range(0, len(uuids), _UUID_BATCH))
    if found < mapped:
        raise exception.CellDatabaseMismatch(
            cell=cell.identity, missing=mapped - found, mapped=mapped)


def _check_before_delete(ctxt, cell: _CellMapping,
                         force: bool) -> tuple[_Counts, int]:
    """The cell's mapping counts and live instances, refused if not
    empty enough; with ``force`` its compute nodes are flagged unmapped.
    """
    counts = mapping_admin.cell_mapping_counts(ctxt, cell.id)
    live_instances = 0
    if counts.instance_mappings or counts.hosts:
        with nova_context.target_cell(ctxt, cell) as cctxt:
            if counts.instance_mappings:
                live_instances = db_api.instance_count(cctxt)
            _refuse_if_not_empty(cell, counts, force, live_instances)
            if counts.instance_mappings:
                _refuse_if_instances_missing(ctxt, cctxt, cell,
                                             counts.instance_mappings)
            if counts.hosts:
                hosts_admin.set_compute_nodes_unmapped(cctxt)
    return counts, live_instances


@retry.on_conflict(_MappingsAppeared, attempts=_DELETE_ATTEMPTS)
def _check_and_delete(ctxt, cell: _CellMapping, force: bool) -> _Counts:
    """The checks, then the delete; both again if mappings appeared
    between them (a ``discover_hosts`` or ``map_instances`` run)."""
    checked, live_instances = _check_before_delete(ctxt, cell, force)
    return _delete_cell_rows(ctxt, cell, force, checked, live_instances)


def delete_cell(ctxt: nova_context.RequestContext, cell_uuid: str,
                force: bool = False, force_cell0: bool = False) -> _Counts:
    """Delete an empty cell, or with ``force`` one whose hosts and deleted
    instances still have mappings (never one with live instances).

    With ``force`` the cell's compute nodes are flagged unmapped first, so
    a later ``discover_hosts`` can map them into another cell; that runs
    before the API transaction because it is harmless if the delete is
    then refused. Mappings added concurrently (a ``discover_hosts`` or
    ``map_instances`` run) send it back to the checks.

    :raises CellMappingNotFound, Cell0DeletionRefused, CellHasHosts,
        CellHasInstances, CellHasInstanceMappings, CellDatabaseMismatch:
        nothing was deleted.
    :raises CellMappingInUse: mappings kept appearing; nothing deleted.
    """
    cell = _CellMapping.get_by_uuid(ctxt, cell_uuid)
    if cell.is_cell0() and not force_cell0:
        raise exception.Cell0DeletionRefused()
    try:
        counts = _check_and_delete(ctxt, cell, force)
    except _MappingsAppeared:
        raise exception.CellMappingInUse(uuid=cell.identity) from None
    cell_cache.CELL_CACHE.invalidate()
    url_sharing.dispose_connections(ctxt, cell.database_connection,
                                    cell.transport_url)
    return counts
