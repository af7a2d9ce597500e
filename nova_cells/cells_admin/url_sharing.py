"""Which cells share a database or a message queue.

A database belongs to one cell, and so does a message queue: two cells on
one database would each claim the other's instances, and two on one queue
would receive each other's messages. :func:`refuse_if_in_use` holds new and
changed URLs to that, comparing what the URLs reach
(:mod:`nova_cells.urls.identity`), not their spelling.
:func:`dispose_connections` closes what a changed or deleted cell no longer
needs, unless another cell or this node still uses it.
"""

import logging
from collections.abc import Callable

from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import urls
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'Warn',
    'dispose_connections',
    'refuse_if_in_use',
]

LOG = logging.getLogger(__name__)

#: Where a warning about a URL goes: the CLI passes its own stderr line.
Warn = Callable[[str], None]

#: What each URL field reaches, and the error when another cell has it.
_REACHED = {urls.DATABASE: (urls.database_reached,
                            exception.CellDatabaseInUse),
            urls.TRANSPORT: (urls.queue_reached, exception.CellQueueInUse)}


def refuse_if_in_use(ctxt: nova_context.RequestContext, field: str,
                     url: str, except_uuid: str | None = None,
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


def _urls_in_use(ctxt, field: str) -> set[str]:
    """The filled ``field`` URLs of every stored cell; for transports also
    this node's own, whose default transport is the same registry entry
    (the local database has a facade of its own)."""
    in_use = {getattr(cell, field) for cell in
              cell_mapping_obj.CellMappingList.get_all(ctxt)}
    local = urls.local_url(field)
    if field == urls.TRANSPORT and local:
        in_use.add(local)
    return in_use


def dispose_connections(ctxt: nova_context.RequestContext,
                        database_connection: str | None,
                        transport_url: str | None) -> None:
    """Close the pools and transports opened for a cell's old URLs.

    Keys derive from the filled URL, so only a URL this process has
    already used can have anything to close. A URL another cell (cells
    often share one message queue) or this node itself still uses is
    left open: closing it would break their calls in flight.
    """
    registry = connections.get_registry()
    if transport_url and urls.has_no_transport(transport_url):
        transport_url = None
    for field, url, key_of, dispose in (
            (urls.DATABASE, database_connection, registry.database_key,
             registry.dispose_database),
            (urls.TRANSPORT, transport_url, registry.transport_key,
             registry.dispose_transport)):
        if not url:
            continue
        filled = urls.render_field(field, url).url
        if filled in _urls_in_use(ctxt, field):
            continue
        try:
            dispose(key_of(filled))
        except exception.Invalid:
            pass
