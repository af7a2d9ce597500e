"""Cell mappings: map cell0, create, update, delete and list cells.

Nova's semantics, minus its sharp edges:

* ``update_cell`` changes only what it is given. Nova falls back to the
  local ``[DEFAULT] transport_url`` / ``[database] connection`` when a URL
  is not passed and so can silently repoint a cell at this node's own
  database; here an omitted URL stays as stored.
* ``delete_cell`` (:mod:`~nova_cells.cells_admin.cell_deletion`) refuses
  cell0 unless ``force_cell0`` is given, and deletes the cell with
  everything mapped to it in one API database transaction: all or nothing.
* A database belongs to one cell, and so does a message queue
  (:mod:`~nova_cells.cells_admin.url_sharing`). Nova rejects a new cell
  only when both its transport URL and its database equal another cell's;
  here each alone decides, compared by what the URL reaches, not by its
  spelling. URLs that differ only in host names that may resolve to one
  address are accepted with a warning.
"""

import dataclasses

from oslo_utils import uuidutils

from nova_cells import cell_cache
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import urls
from nova_cells.cells_admin import cell_deletion
from nova_cells.cells_admin import url_sharing
from nova_cells.db.sqlalchemy import mapping_admin
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'CELL0_NAME',
    'CELL0_TRANSPORT_URL',
    'CELL0_UUID',
    'CELL_OWNED_MODELS',
    'CellMapping',
    'CellUpdate',
    'MAX_NAME_LENGTH',
    'Warn',
    'check_name',
    'create_cell',
    'delete_cell',
    'get_cell',
    'list_cells',
    'map_cell0',
    'update_cell',
]

Warn = url_sharing.Warn
#: Tables whose rows belong to a cell and go when it is deleted.
CELL_OWNED_MODELS = mapping_admin.CELL_OWNED_MODELS
delete_cell = cell_deletion.delete_cell

CellMapping = cell_mapping_obj.CellMapping
CELL0_UUID = cell_mapping_obj.CELL0_UUID
CELL0_NAME = 'cell0'
#: cell0 has no message queue: nothing is ever scheduled to it.
CELL0_TRANSPORT_URL = 'none:///'
#: The name column's width; a name is one line of printable text.
MAX_NAME_LENGTH = 255


def check_name(name: str | None) -> None:
    """:raises InvalidCellName: ``name`` is not one line of printable
    text of at most :data:`MAX_NAME_LENGTH` characters (a newline or a
    terminal escape sequence would forge lines in every listing)."""
    if name is None:
        return
    if not name.strip() or not name.isprintable():
        raise exception.InvalidCellName(
            reason='it must be one line of printable text')
    if len(name) > MAX_NAME_LENGTH:
        raise exception.InvalidCellName(
            reason='it has %d characters; at most %d are allowed' % (
                len(name), MAX_NAME_LENGTH))


def get_cell(ctxt: nova_context.RequestContext,
             cell_uuid: str) -> CellMapping:
    """:raises CellMappingNotFound: also for a malformed uuid."""
    return CellMapping.get_by_uuid(ctxt, cell_uuid)


def list_cells(ctxt: nova_context.RequestContext) -> list[CellMapping]:
    """Every cell, by name (cells without a name first), then uuid."""
    cells = cell_mapping_obj.CellMappingList.get_all(ctxt)
    return sorted(cells, key=lambda cell: (cell.name or '', cell.uuid))


# -- map_cell0 ----------------------------------------------------------------

def map_cell0(ctxt: nova_context.RequestContext,
              database_connection: str | None = None,
              warn: Warn | None = None) -> tuple[CellMapping, bool]:
    """Create cell0's mapping; returns it and whether it was created now.

    ``database_connection`` defaults to the local main database URL with
    ``_cell0`` added to the database name. An existing cell0 is returned
    unchanged (``False``), as Nova does.

    :raises InvalidCellURL, CellURLTemplateError: before anything is stored.
    """
    try:
        return get_cell(ctxt, CELL0_UUID), False
    except exception.CellMappingNotFound:
        pass
    if database_connection is None:
        database_connection = urls.cell0_default_connection(
            urls.local_url('database_connection'))
    urls.check_database_connection(database_connection, CELL0_NAME)
    url_sharing.refuse_if_in_use(ctxt, urls.DATABASE, database_connection,
                                 warn=warn)
    cell0 = CellMapping(ctxt, uuid=CELL0_UUID, name=CELL0_NAME,
                        transport_url=CELL0_TRANSPORT_URL,
                        database_connection=database_connection,
                        disabled=False)
    try:
        cell0.create()
    except exception.CellMappingExists:
        # Another map_cell0 won the race: same outcome, nothing to do.
        return get_cell(ctxt, CELL0_UUID), False
    return cell0, True


# -- create_cell / update_cell ------------------------------------------------

def create_cell(ctxt: nova_context.RequestContext, name: str | None = None,
                transport_url: str | None = None,
                database_connection: str | None = None,
                disabled: bool = False,
                warn: Warn | None = None) -> CellMapping:
    """Create a cell mapping; unset URLs come from local config (as Nova).

    :raises InvalidCellName: see :func:`check_name`.
    :raises MissingCellURL, InvalidCellURL, CellURLTemplateError: a URL is
        missing or unusable.
    :raises CellDatabaseInUse, CellQueueInUse: another cell already uses
        the database or the message queue.
    """
    check_name(name)
    label = name or '(new cell)'
    if transport_url is None:
        transport_url = urls.local_url(urls.TRANSPORT)
    if database_connection is None:
        database_connection = urls.local_url(urls.DATABASE)
    urls.check_transport_url(transport_url, label)
    urls.check_database_connection(database_connection, label)
    url_sharing.refuse_if_in_use(ctxt, urls.DATABASE, database_connection,
                                 warn=warn)
    url_sharing.refuse_if_in_use(ctxt, urls.TRANSPORT, transport_url,
                                 warn=warn)
    cell = CellMapping(ctxt, uuid=uuidutils.generate_uuid(), name=name,
                       transport_url=transport_url,
                       database_connection=database_connection,
                       disabled=disabled)
    cell.create()
    cell_cache.CELL_CACHE.invalidate()
    return cell


@dataclasses.dataclass
class CellUpdate:
    """What :func:`update_cell` changed, for the operator's benefit."""

    cell: CellMapping
    changed: list[str]
    notes: list[str]


def update_cell(ctxt: nova_context.RequestContext, cell_uuid: str,
                name: str | None = None, transport_url: str | None = None,
                database_connection: str | None = None,
                disable: bool = False, enable: bool = False,
                warn: Warn | None = None) -> CellUpdate:
    """Change only the given properties of a cell.

    Every check runs before the one save, so a rejected update changes
    nothing.

    :raises InvalidCellState: both ``disable`` and ``enable``.
    :raises InvalidCellName: see :func:`check_name`.
    :raises CellMappingNotFound: no such cell.
    :raises Cell0StateChange: enabling or disabling cell0.
    :raises MissingCellURL, InvalidCellURL, CellURLTemplateError: bad URL.
    :raises CellDatabaseInUse, CellQueueInUse: another cell uses that
        database or message queue.
    """
    if disable and enable:
        raise exception.InvalidCellState(
            reason='a cell cannot be disabled and enabled at once')
    check_name(name)
    cell = get_cell(ctxt, cell_uuid)
    label = cell.identity
    if (disable or enable) and cell.is_cell0():
        raise exception.Cell0StateChange()
    if (cell.is_cell0() and transport_url is not None and
            not urls.has_no_transport(transport_url)):
        raise exception.InvalidCellURL(
            cell=label, kind='transport', url=urls.mask_url(transport_url),
            reason='cell0 never has a message queue: nothing is ever '
                   'scheduled to it, so its transport URL stays %s' %
                   CELL0_TRANSPORT_URL)
    if transport_url is not None:
        urls.check_transport_url(transport_url, label)
        url_sharing.refuse_if_in_use(ctxt, urls.TRANSPORT, transport_url,
                                     except_uuid=cell.uuid, warn=warn)
    if database_connection is not None:
        urls.check_database_connection(database_connection, label)
        url_sharing.refuse_if_in_use(ctxt, urls.DATABASE,
                                     database_connection,
                                     except_uuid=cell.uuid, warn=warn)
    changed, notes = [], []
    old_database = old_transport = None
    if name is not None and name != cell.name:
        cell.name = name
        changed.append('name')
    if transport_url is not None:
        old_transport = cell.transport_url
        cell.transport_url = transport_url
        changed.append('transport_url')
    if database_connection is not None:
        old_database = cell.database_connection
        cell.database_connection = database_connection
        changed.append('database_connection')
    if disable:
        if cell.disabled:
            notes.append('Cell %s is already disabled.' % label)
        else:
            cell.disabled = True
            changed.append('disabled')
    if enable:
        if not cell.disabled:
            notes.append('Cell %s is already enabled.' % label)
        else:
            cell.disabled = False
            changed.append('disabled')
    if changed:
        cell.save()
        # The all-cells fan-out must not keep routing to the old URLs.
        cell_cache.CELL_CACHE.invalidate()
        url_sharing.dispose_connections(ctxt, old_database, old_transport)
    return CellUpdate(cell, changed, notes)
