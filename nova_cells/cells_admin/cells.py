"""Cell mappings: map cell0, create, update, delete and list cells.

Nova's semantics, minus its sharp edges:

* ``update_cell`` changes only what it is given. Nova falls back to the
  local ``[DEFAULT] transport_url`` / ``[database] connection`` when a URL
  is not passed and so can silently repoint a cell at this node's own
  database; here an omitted URL stays as stored.
* ``delete_cell`` refuses cell0 unless ``force_cell0`` is given, and deletes
  the cell's instance mappings, host mappings, map_instances resume point
  and the cell itself in one API database transaction: all or nothing.
* A database belongs to one cell, and so does a message queue. Nova
  rejects a new cell only when both its transport URL and its database
  equal another cell's; two cells on one database would each claim the
  other's instances, and two on one queue would receive each other's
  messages, so here each alone decides, compared by what the URL reaches
  (:mod:`nova_cells.urls.identity`), not by its spelling. URLs that differ
  only in host names that may resolve to one address are accepted with a
  warning.
"""

import dataclasses
import logging
from collections.abc import Callable

import sqlalchemy as sa
from oslo_utils import uuidutils

from nova_cells import cell_cache
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells import urls
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models
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

LOG = logging.getLogger(__name__)

#: Where a warning about a URL goes: the CLI passes its own stderr line.
Warn = Callable[[str], None]

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
    _refuse_if_in_use(ctxt, urls.DATABASE, database_connection, warn=warn)
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

#: What each URL field reaches, and the error when another cell has it.
_REACHED = {urls.DATABASE: (urls.database_reached,
                            exception.CellDatabaseInUse),
            urls.TRANSPORT: (urls.queue_reached, exception.CellQueueInUse)}


def _refuse_if_in_use(ctxt, field: str, url: str,
                      except_uuid: str | None = None,
                      warn: Warn | None = None) -> None:
    """Refuse ``url`` when another cell's ``field`` reaches the same
    database or queue (stored templates are compared as stored and as
    filled here); warn when only host names tell them apart.

    :raises CellDatabaseInUse, CellQueueInUse: naming the other cell.
    """
    if urls.has_no_transport(url):
        return  # none:/// reaches no queue, so it is never in use
    reached, in_use = _REACHED[field]
    wanted = reached(urls.render_field(field, url).url)
    for cell in cell_mapping_obj.CellMappingList.get_all(ctxt):
        if cell.uuid == except_uuid:
            continue
        stored = cell.stored_url(field)
        other = None if field in cell.unfilled_url_fields else reached(
            getattr(cell, field))
        if url == stored or (wanted is not None and wanted.same(other)):
            raise in_use(other=cell.identity, url=urls.mask_url(url))
        if urls.may_be_same(wanted, other):
            (warn or LOG.warning)(
                'Cell %s uses %s, which may be the same %s as %s if their '
                'host names resolve to one address.' % (
                    cell.identity, urls.mask_url(getattr(cell, field)),
                    wanted.kind, urls.mask_url(url)))


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
    _refuse_if_in_use(ctxt, urls.DATABASE, database_connection, warn=warn)
    _refuse_if_in_use(ctxt, urls.TRANSPORT, transport_url, warn=warn)
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


def _urls_in_use(ctxt, field: str) -> set[str]:
    """The filled ``field`` URLs of every stored cell; for transports also
    this node's own, whose default transport is the same registry entry
    (the local database has a facade of its own)."""
    column = getattr(api_models.CellMapping, field)
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        stored = s.execute(sa.select(column)).scalars().all()
    in_use = {urls.render_field(field, url).url for url in stored}
    local = urls.local_url(field)
    if field == urls.TRANSPORT and local:
        in_use.add(local)
    return in_use


def _dispose_connections(ctxt, database_connection: str | None,
                         transport_url: str | None) -> None:
    """Close the pools and transports opened for a cell's old URLs.

    Keys derive from the filled URL, so only a URL this process has
    already used can have anything to close. A URL another cell (cells
    often share one message queue) or this node itself still uses is
    left open: closing it would break their calls in flight.
    """
    registry = connections.get_registry()
    if database_connection:
        rendering = urls.render_field(urls.DATABASE,
                                               database_connection)
        if rendering.url not in _urls_in_use(ctxt, urls.DATABASE):
            try:
                registry.dispose_database(
                    registry.database_key(rendering.url))
            except exception.Invalid:
                pass
    if transport_url and not urls.has_no_transport(transport_url):
        rendering = urls.render_field(urls.TRANSPORT, transport_url)
        if rendering.url not in _urls_in_use(ctxt, urls.TRANSPORT):
            try:
                registry.dispose_transport(
                    registry.transport_key(rendering.url))
            except exception.Invalid:
                pass


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
        _refuse_if_in_use(ctxt, urls.TRANSPORT, transport_url,
                          except_uuid=cell.uuid, warn=warn)
    if database_connection is not None:
        urls.check_database_connection(database_connection, label)
        _refuse_if_in_use(ctxt, urls.DATABASE, database_connection,
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
        _dispose_connections(ctxt, old_database, old_transport)
    return CellUpdate(cell, changed, notes)


# -- delete_cell --------------------------------------------------------------

#: Tables whose rows belong to a cell and go when it is deleted.
CELL_OWNED_MODELS = (api_models.InstanceMapping, api_models.HostMapping,
                     api_models.MapInstancesMarker)


@dataclasses.dataclass
class _Counts:
    hosts: int
    instance_mappings: int


def _count_mappings(session, cell_id: int) -> _Counts:
    def count(model) -> int:
        return session.execute(sa.select(sa.func.count()).select_from(
            model).where(model.cell_id == cell_id)).scalar_one()
    return _Counts(count(api_models.HostMapping),
                   count(api_models.InstanceMapping))


def _refuse_if_not_empty(cell: CellMapping, counts: _Counts, force: bool,
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


def _delete_cell_rows(ctxt, cell: CellMapping, force: bool,
                      checked: _Counts, live_instances: int) -> _Counts:
    """Delete the cell and what maps to it in one API transaction.

    The counts are taken again inside the transaction. A host or instance
    mapping added since ``checked`` was taken has not been checked (its
    compute node flagged unmapped, its instance's liveness counted), so
    then nothing is deleted and :exc:`_MappingsAppeared` is raised.
    """
    with db_api.get_context_manager(ctxt, 'api').writer.using(ctxt) as s:
        counts = _count_mappings(s, cell.id)
        if (counts.hosts > checked.hosts or
                counts.instance_mappings > checked.instance_mappings):
            raise _MappingsAppeared()
        _refuse_if_not_empty(cell, counts, force, live_instances)
        for model in CELL_OWNED_MODELS:
            s.execute(sa.delete(model).where(model.cell_id == cell.id))
        s.execute(sa.delete(api_models.CellMapping).where(
            api_models.CellMapping.id == cell.id))
        mapping_cache.CACHE.announce(s, deleted_cells=[cell.uuid])
    return counts


#: Instance uuids looked up in a cell's database per query.
_UUID_BATCH = 500


def _refuse_if_instances_missing(ctxt, cctxt, cell: CellMapping,
                                 mapped: int) -> None:
    """:raises CellDatabaseMismatch: instances mapped to the cell are not
    in its database at all, not even deleted.

    "No live instance" must come from the cell's real database: a
    mistyped URL that reaches an empty (or freshly migrated) database
    would otherwise let ``--force`` remove the mappings of live
    instances.
    """
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        uuids = s.execute(sa.select(
            api_models.InstanceMapping.instance_uuid).where(
            api_models.InstanceMapping.cell_id == cell.id)).scalars().all()
    found = 0
    with db_api.get_context_manager(cctxt).reader.using(cctxt) as s:
        for start in range(0, len(uuids), _UUID_BATCH):
            batch = uuids[start:start + _UUID_BATCH]
            found += s.execute(sa.select(sa.func.count()).select_from(
                models.Instance).where(
                models.Instance.uuid.in_(batch))).scalar_one()
    if found < mapped:
        raise exception.CellDatabaseMismatch(
            cell=cell.identity, missing=mapped - found, mapped=mapped)


def _check_before_delete(ctxt, cell: CellMapping,
                         force: bool) -> tuple[_Counts, int]:
    """The cell's mapping counts and live instances, refused if not
    empty enough; with ``force`` its compute nodes are flagged unmapped.
    """
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        counts = _count_mappings(s, cell.id)
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
    cell = get_cell(ctxt, cell_uuid)
    if cell.is_cell0() and not force_cell0:
        raise exception.Cell0DeletionRefused()
    for _attempt in range(_DELETE_ATTEMPTS):
        checked, live_instances = _check_before_delete(ctxt, cell, force)
        try:
            counts = _delete_cell_rows(ctxt, cell, force, checked,
                                       live_instances)
            break
        except _MappingsAppeared:
            continue
    else:
        raise exception.CellMappingInUse(uuid=cell.identity)
    cell_cache.CELL_CACHE.invalidate()
    _dispose_connections(ctxt, cell.database_connection, cell.transport_url)
    return counts
