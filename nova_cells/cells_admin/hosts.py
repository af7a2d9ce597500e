"""Host mappings: discover, list and delete compute hosts.

``discover_hosts`` is safe to run from several processes at once, which
Nova's is not (it stops with "Duplicate host mapping" when a concurrent run
maps a host first). The unique constraint on ``host_mappings.host`` decides
who maps a host: every host gets exactly one mapping, and a process that
loses the race treats the host as already mapped. A host that is already
mapped to a *different* cell is reported as a conflict and left alone
(Nova silently flags such a node mapped), so the operator can see that two
cells claim the same host.
"""

import dataclasses
from collections.abc import Callable

import sqlalchemy as sa
from oslo_db import exception as db_exception

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells.cells_admin import retry
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.objects import host_mapping as host_mapping_obj

__all__ = [
    'COMPUTE_BINARY',
    'Discovery',
    'HostConflict',
    'HostRow',
    'StatusCallback',
    'delete_host',
    'discover_hosts',
    'list_hosts',
    'quiet',
    'set_compute_nodes_unmapped',
]

COMPUTE_BINARY = 'nova-compute'

StatusCallback = Callable[[str], None]


def quiet(_message: str) -> None:
    """A status callback that says nothing (the default)."""


@dataclasses.dataclass(frozen=True)
class HostConflict:
    host: str
    cell: str
    mapped_cell: str


@dataclasses.dataclass
class Discovery:
    """What one ``discover_hosts`` run found."""

    #: (host, cell uuid) mapped by this run.
    mapped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: hosts found already mapped to the cell they were found in (by an
    #: earlier or a concurrent run).
    already_mapped: list[str] = dataclasses.field(default_factory=list)
    #: hosts found in one cell but mapped to another.
    conflicts: list[HostConflict] = dataclasses.field(default_factory=list)
    #: (cell identity, error line) of cells whose database failed.
    failed_cells: list[tuple[str, str]] = dataclasses.field(
        default_factory=list)


# -- compute node flags (main database) ---------------------------------------

@retry.on_conflict()
def set_compute_nodes_unmapped(cctxt: nova_context.RequestContext,
                               host: str | None = None) -> int:
    """Clear ``mapped`` on the targeted cell's compute nodes (of one host),
    so ``discover_hosts`` finds them again; returns rows changed."""
    return db_api.compute_nodes_mark_unmapped(cctxt, host)


@retry.on_conflict()
def _mark_mapped(cctxt, node_ids: list[int]) -> None:
    # Concurrent runs flag the same rows; a deadlock there is retried.
    db_api.compute_nodes_mark_mapped(cctxt, node_ids)


# -- host mappings (API database) ---------------------------------------------

def _map_host(ctxt, host: str, cell) -> str | None:
    """Map ``host`` to ``cell``; None if this call created the mapping,
    else the uuid of the cell it turned out to be mapped to already."""
    try:
        host_mapping_obj.HostMapping(ctxt, host=host,
                                     cell_mapping=cell).create()
        return None
    except (exception.HostMappingExists, db_exception.DBDuplicateEntry):
        # A concurrent run won: find out which cell it chose.
        return mapping_admin.host_mapping_cells(ctxt, [host]).get(
            host, cell.uuid)


def _discover_in_cell(ctxt, cell, by_service: bool, result: Discovery,
                      status: StatusCallback) -> None:
    with cell.target(ctxt) as cctxt:
        if by_service:
            services = db_api.service_get_all_by_binary(
                cctxt, COMPUTE_BINARY, include_disabled=True)
            nodes_by_host = {service.host: [] for service in services
                             if service.host}
            status('Found %d compute services in cell %s.' % (
                len(nodes_by_host), cell.identity))
        else:
            nodes_by_host = {}
            for node in db_api.compute_node_get_all_unmapped(cctxt):
                if node.host:
                    nodes_by_host.setdefault(node.host, []).append(node.id)
            status('Found %d unmapped computes in cell %s.' % (
                len(nodes_by_host), cell.identity))
        mapped_cells = mapping_admin.host_mapping_cells(ctxt, nodes_by_host)
        to_flag: list[int] = []
        for host, node_ids in nodes_by_host.items():
            mapped_cell = mapped_cells.get(host)
            if mapped_cell is None:
                mapped_cell = _map_host(ctxt, host, cell)
                if mapped_cell is None:
                    status('Mapped host %s to cell %s.' % (host,
                                                          cell.identity))
                    result.mapped.append((host, cell.uuid))
                    to_flag.extend(node_ids)
                    continue
            if mapped_cell == cell.uuid:
                result.already_mapped.append(host)
                to_flag.extend(node_ids)
                continue
            status('Host %s in cell %s is mapped to cell %s.' % (
                host, cell.identity, mapped_cell))
            result.conflicts.append(HostConflict(host, cell.uuid,
                                                 mapped_cell))
        if to_flag:
            _mark_mapped(cctxt, to_flag)


def discover_hosts(ctxt: nova_context.RequestContext,
                   cell_uuid: str | None = None, by_service: bool = False,
                   status: StatusCallback = quiet) -> Discovery:
    """Map every compute host of every cell (or of one) not mapped yet.

    Compute nodes not flagged ``mapped`` are the candidates, or with
    ``by_service`` every ``nova-compute`` service (for hosts whose node
    records are gone or not written yet). cell0 holds no hosts and is
    skipped. A cell whose database fails is recorded and the others are
    still discovered.

    :raises CellMappingNotFound: ``cell_uuid`` names no cell.
    """
    if cell_uuid:
        cells = [cell_mapping_obj.CellMapping.get_by_uuid(ctxt, cell_uuid)]
    else:
        cells = list(cell_mapping_obj.CellMappingList.get_all(ctxt))
        status('Found %d cell mappings.' % len(cells))
    result = Discovery()
    for cell in cells:
        if cell.is_cell0():
            status('Skipping cell0 since it does not contain hosts.')
            continue
        try:
            _discover_in_cell(ctxt, cell, by_service, result, status)
        except (db_exception.DBError, sa.exc.SQLAlchemyError,
                exception.Invalid, exception.CellUnavailable) as error:
            # Any database failure of one cell (unreachable, not migrated,
            # host name unknown) is that cell's, never the whole run's.
            line = str(error).splitlines()[0] if str(error) else (
                type(error).__name__)
            result.failed_cells.append((cell.identity, line))
    return result


# -- list_hosts / delete_host -------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HostRow:
    cell_name: str | None
    cell_uuid: str
    host: str


def list_hosts(ctxt: nova_context.RequestContext,
               cell_uuid: str | None = None) -> list[HostRow]:
    """Mapped hosts by host name, of one cell or of all.

    :raises CellMappingNotFound: ``cell_uuid`` names no cell.
    """
    if cell_uuid:
        cell = cell_mapping_obj.CellMapping.get_by_uuid(ctxt, cell_uuid)
        mappings = host_mapping_obj.HostMappingList.get_by_cell_id(ctxt,
                                                                   cell.id)
    else:
        mappings = host_mapping_obj.HostMappingList.get_all(ctxt)
    return sorted((HostRow(mapping.cell_mapping.name,
                           mapping.cell_mapping.uuid, mapping.host)
                   for mapping in mappings), key=lambda row: row.host)


def delete_host(ctxt: nova_context.RequestContext, cell_uuid: str,
                host: str) -> None:
    """Remove a host's mapping and flag its compute nodes unmapped.

    :raises CellMappingNotFound: no such cell.
    :raises HostMappingNotFound: the host is not mapped.
    :raises HostNotInCell: it is mapped to another cell.
    :raises HostHasInstances: live instances are still on it.
    """
    cell = cell_mapping_obj.CellMapping.get_by_uuid(ctxt, cell_uuid)
    host_mapping = host_mapping_obj.HostMapping.get_by_host(ctxt, host)
    if host_mapping.cell_mapping.uuid != cell.uuid:
        raise exception.HostNotInCell(host=host, cell=cell.identity)
    with cell.target(ctxt) as cctxt:
        instances = db_api.instance_count(cctxt, {'host': host})
        if instances:
            raise exception.HostHasInstances(host=host, count=instances)
        # Unflag first: if the delete below then fails, a later discovery
        # finds the node and the mapping it still has, and flags it again.
        set_compute_nodes_unmapped(cctxt, host=host)
    host_mapping.destroy()
