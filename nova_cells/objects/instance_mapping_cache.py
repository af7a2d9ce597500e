"""An instance mapping as the mapping cache sees it.

What the cache keeps of a mapping (:func:`cache_values`, read back through
:data:`CACHED_ATTRIBUTES`), and what a write to a mapping's row tells
every process's cache (:func:`announce_write`). Separate from
:mod:`nova_cells.objects.instance_mapping` because this is the cache's
coherence policy for instance mappings, not the object's contract: which
writes bump the generation is decided here.
"""

import sys
from typing import Any

import sqlalchemy as sa

from nova_cells import mapping_cache
from nova_cells.db.sqlalchemy import api_models

__all__ = [
    'CACHED_ATTRIBUTES',
    'announce_write',
    'cache_values',
    'lock_before_write',
]

_TABLE = api_models.InstanceMapping.__table__
#: The columns a cached mapping keeps besides its instance and cell.
_CACHED_FIELDS = ('id', 'project_id', 'user_id', 'queued_for_delete',
                  'created_at', 'updated_at')
#: Where :func:`nova_cells.objects.base.from_cached` puts those values.
CACHED_ATTRIBUTES = tuple('_obj_' + name for name in _CACHED_FIELDS)
_BEFORE_WRITE = sa.select(_TABLE.c.instance_uuid, _TABLE.c.cell_id)


def _intern(value: str | None) -> str | None:
    """Many instances share a project and a user: keep one string each."""
    return None if value is None else sys.intern(value)


def cache_values(mapping: Any) -> tuple:
    """The values of :data:`CACHED_ATTRIBUTES` that ``mapping`` has."""
    return (mapping.id, _intern(mapping.project_id),
            _intern(mapping.user_id), mapping.queued_for_delete,
            mapping.created_at, mapping.updated_at)


def lock_before_write(session: Any, where: Any) -> Any:
    """The instance uuid and cell id of the row ``where`` names, as they
    are before a write, locked until the transaction ends (None: no
    row); what :func:`announce_write` needs."""
    return session.execute(
        _BEFORE_WRITE.where(where).with_for_update()).first()


def announce_write(session: Any, before: Any, after: dict | None,
                   changed: bool) -> None:
    """Tell the mapping caches about a write to one mapping's row.

    Only a row that had a cell can be cached anywhere, so only changing
    or deleting such a row bumps the generation; giving an unscheduled
    instance its first cell does not (boots never contend on it).
    """
    if before is None:
        return
    uuids = {before.instance_uuid}
    if after is not None:
        uuids.add(after['instance_uuid'])
    mapping_cache.CACHE.announce(
        session, bump=changed and before.cell_id is not None,
        instances=uuids)
