"""First-time set-up of a deployment: ``map_cell_and_hosts`` and
``simple_cell_setup``.

Both turn a deployment without cells into one with cell0 and one cell that
is this node's own main database. They are safe to run again: a cell that
already uses the local database is reused instead of being created twice
(Nova creates a second mapping when no host was mapped yet).
"""

import dataclasses

from nova_cells import context as nova_context
from nova_cells import urls
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'CellAndHosts',
    'SimpleSetup',
    'map_cell_and_hosts',
    'simple_cell_setup',
]


@dataclasses.dataclass
class CellAndHosts:
    #: None when no compute host reports to the local database.
    cell: cells_admin.CellMapping | None
    created: bool
    discovery: hosts_admin.Discovery | None


def _cell_of_local_database(ctxt) -> cells_admin.CellMapping | None:
    local = urls.local_url(urls.DATABASE)
    for cell in cell_mapping_obj.CellMappingList.get_all(ctxt):
        if cell.is_cell0():
            continue
        if local in (cell.stored_url(urls.DATABASE), cell.database_connection):
            return cell
    return None


def map_cell_and_hosts(ctxt: nova_context.RequestContext,
                       transport_url: str | None = None,
                       name: str | None = None,
                       status: hosts_admin.StatusCallback = hosts_admin.quiet
                       ) -> CellAndHosts:
    """Map the local main database as a cell and map its compute hosts.

    ``transport_url`` defaults to ``[DEFAULT] transport_url``. Nothing is
    created when no compute node reports to the local database.

    :raises MissingCellURL, InvalidCellURL, CellURLTemplateError: before
        anything is stored.
    """
    cells_admin.check_name(name)
    if transport_url is None:
        transport_url = urls.local_url(urls.TRANSPORT)
    urls.check_transport_url(transport_url, name or '(new cell)')
    if not db_api.compute_node_get_all(ctxt):
        return CellAndHosts(None, False, None)
    cell = _cell_of_local_database(ctxt)
    created = cell is None
    if created:
        cell = cells_admin.create_cell(
            ctxt, name=name, transport_url=transport_url,
            database_connection=urls.local_url(urls.DATABASE))
        status('Created cell %s.' % cell.identity)
    discovery = hosts_admin.discover_hosts(ctxt, cell_uuid=cell.uuid,
                                           status=status)
    return CellAndHosts(cell, created, discovery)


@dataclasses.dataclass
class SimpleSetup:
    cell0_created: bool
    #: why cell0's schema could not be synced, if it could not.
    cell0_sync_error: str | None
    cell_and_hosts: CellAndHosts
    instances: instances_admin.MapInstancesResult | None


def simple_cell_setup(ctxt: nova_context.RequestContext,
                      transport_url: str | None = None,
                      status: hosts_admin.StatusCallback = hosts_admin.quiet
                      ) -> SimpleSetup:
    """cell0 (mapped and migrated), the local cell with its hosts, and
    every instance of the local cell mapped.

    :raises MissingCellURL, InvalidCellURL, CellURLTemplateError: before
        anything is stored.
    """
    if transport_url is None:
        transport_url = urls.local_url(urls.TRANSPORT)
    urls.check_transport_url(transport_url, '(new cell)')
    cell0, cell0_created = cells_admin.map_cell0(ctxt)
    sync_error = None
    try:
        with cell0.target(ctxt) as cctxt:
            migration.db_sync(database=migration.MAIN, context=cctxt)
    except Exception as error:  # reported; the set-up goes on, as Nova's
        sync_error = str(error).splitlines()[0] if str(error) else (
            type(error).__name__)
    cell_and_hosts = map_cell_and_hosts(ctxt, transport_url, status=status)
    instances = None
    if cell_and_hosts.cell is not None:
        instances = instances_admin.map_instances(
            ctxt, cell_and_hosts.cell.uuid)
    return SimpleSetup(cell0_created, sync_error, cell_and_hosts, instances)
