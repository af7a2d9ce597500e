"""Instance mappings: ``map_instances`` (resumable) and ``verify_instance``.

``map_instances`` walks a cell's ``instances`` table in primary-key order
and gives every instance without an instance mapping one in that cell. Its
resume point is a row of the API table ``map_instances_markers`` (one per
cell: the id of the last instance handled), not Nova's fake instance
mapping with a mangled uuid. Each batch inserts its mappings *and*
advances that row in one API database transaction, so a run killed at any
moment has either committed a batch entirely or not at all: the next run
resumes after the last committed batch, with no instance mapped twice and
none missed. (Mappings that exist already are skipped too, so even a stale
resume point could not create a duplicate.) A run that reaches the end
removes the row, so the next run starts from the beginning, as in Nova.

Instances soft-deleted in the cell are mapped as well, with
``queued_for_delete`` set, so their mappings exist until they are archived.
"""

import dataclasses
import enum
import time
from collections.abc import Callable

from oslo_db import exception as db_exception

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells.cells_admin import retry
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.objects import instance_mapping as instance_mapping_obj

__all__ = [
    'DEFAULT_BATCH_SIZE',
    'InstanceStatus',
    'MapInstancesResult',
    'PROGRESS_INTERVAL',
    'ProgressCallback',
    'Verification',
    'map_instances',
    'verify_instance',
]

#: Instances read and mapped per transaction.
DEFAULT_BATCH_SIZE = 5000
#: Seconds between two progress reports of a long run.
PROGRESS_INTERVAL = 5.0
_SOFT_DELETED = 'soft-delete'

ProgressCallback = Callable[['MapInstancesResult'], None]


@dataclasses.dataclass
class MapInstancesResult:
    cell_uuid: str
    cell: str
    #: instance id the run resumed after (None: from the beginning).
    resumed_after: int | None = None
    examined: int = 0
    mapped: int = 0
    already_mapped: int = 0
    #: instances without a project_id, which a mapping requires.
    unmappable: list[str] = dataclasses.field(default_factory=list)
    #: True when --max-count stopped the run before the end.
    more_remaining: bool = False
    #: id of the last instance handled.
    last_instance_id: int | None = None


@retry.on_conflict(db_exception.DBDuplicateEntry)
def _write_batch(ctxt, cell_id: int, rows: list) -> tuple[int, int]:
    """Map the batch and advance the resume point, in one API transaction;
    returns (mapped, already mapped). A concurrent run that mapped some of
    these (or created the resume point) meanwhile rolls the batch back
    whole, so it is redone."""
    # Rows unpack as tuples: attribute access per row would cost more
    # than the insert itself at this volume.
    return mapping_admin.instance_mappings_create_batch(
        ctxt, cell_id, rows[-1][0],
        [(uuid, project_id, user_id,
          bool(deleted) or vm_state == _SOFT_DELETED)
         for _id, uuid, project_id, user_id, deleted, vm_state in rows])


def map_instances(ctxt: nova_context.RequestContext, cell_uuid: str,
                  max_count: int | None = None, reset: bool = False,
                  batch_size: int = DEFAULT_BATCH_SIZE,
                  progress: ProgressCallback | None = None
                  ) -> MapInstancesResult:
    """Map a cell's unmapped instances to it, resuming where it stopped.

    ``max_count`` bounds the instances examined in this run (the result
    says whether more remain); ``reset`` forgets the resume point first.
    ``progress`` is called every :data:`PROGRESS_INTERVAL` seconds.

    :raises InvalidMaxCount: ``max_count`` or ``batch_size`` below 1,
        before anything is read or written.
    :raises CellMappingNotFound: no such cell.
    """
    if max_count is not None and max_count < 1:
        raise exception.InvalidMaxCount(option='--max-count',
                                        value=max_count)
    if batch_size < 1:
        raise exception.InvalidMaxCount(option='--batch-size',
                                        value=batch_size)
    cell = cell_mapping_obj.CellMapping.get_by_uuid(ctxt, cell_uuid)
    result = MapInstancesResult(cell_uuid=cell.uuid, cell=cell.identity)
    with cell.target(ctxt) as cctxt:
        if reset:
            mapping_admin.map_instances_marker_delete(ctxt, cell.id)
        result.resumed_after = mapping_admin.map_instances_marker(ctxt,
                                                                  cell.id)
        after = result.resumed_after or 0
        next_report = time.monotonic() + PROGRESS_INTERVAL
        while True:
            limit = batch_size
            if max_count is not None:
                limit = min(limit, max_count - result.examined)
                if limit == 0:
                    result.more_remaining = bool(
                        db_api.instance_rows_after(cctxt, after, 1))
                    break
            rows = db_api.instance_rows_after(cctxt, after, limit)
            if not rows:
                break
            mapped, existing = _write_batch(ctxt, cell.id, rows)
            after = rows[-1].id
            result.examined += len(rows)
            result.mapped += mapped
            result.already_mapped += existing
            result.unmappable.extend(
                row.uuid for row in rows if row.project_id is None)
            result.last_instance_id = after
            if progress is not None and time.monotonic() >= next_report:
                progress(result)
                next_report = time.monotonic() + PROGRESS_INTERVAL
    if not result.more_remaining:
        mapping_admin.map_instances_marker_delete(ctxt, cell.id)
    return result


# -- verify_instance ----------------------------------------------------------

class InstanceStatus(enum.IntEnum):
    """What ``verify_instance`` found; the values are Nova's exit codes."""

    MAPPED = 0
    NOT_MAPPED = 1
    NO_CELL = 2
    DELETED = 3
    ARCHIVED = 4


@dataclasses.dataclass(frozen=True)
class Verification:
    status: InstanceStatus
    message: str


def verify_instance(ctxt: nova_context.RequestContext,
                    instance_uuid: str) -> Verification:
    """Say whether an instance is mapped to a cell and still there."""
    try:
        mapping = instance_mapping_obj.InstanceMapping.get_by_instance_uuid(
            ctxt, instance_uuid)
    except exception.InstanceMappingNotFound:
        return Verification(
            InstanceStatus.NOT_MAPPED,
            'Instance %s is not mapped to a cell (map_instances has not '
            'run for its cell) or does not exist.' % instance_uuid)
    cell = mapping.cell_mapping
    if cell is None:
        return Verification(
            InstanceStatus.NO_CELL,
            'Instance %s is not mapped to a cell yet (it is still being '
            'scheduled).' % instance_uuid)
    with cell.target(ctxt) as cctxt:
        try:
            instance = db_api.instance_get_by_uuid(
                cctxt.elevated(read_deleted='yes'), instance_uuid)
        except exception.InstanceNotFound:
            return Verification(
                InstanceStatus.ARCHIVED,
                'Instance %s has been archived from cell %s, but its '
                'instance mapping remains.' % (instance_uuid, cell.identity))
    if instance.deleted:
        return Verification(
            InstanceStatus.DELETED,
            'Instance %s has been deleted in cell %s; archiving deleted '
            'rows removes its instance mapping.' % (instance_uuid,
                                                   cell.identity))
    where = 'cell %s' % cell.identity
    if cell.is_cell0():
        where += ' (cell0: it failed to be scheduled)'
    return Verification(InstanceStatus.MAPPED, 'Instance %s is in %s.' % (
        instance_uuid, where))
