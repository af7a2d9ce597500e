"""API-database reads and writes of the operator commands.

The mapping objects load and store one mapping each. The ``cell_v2``
commands also need mappings counted per cell, many hosts looked up at once,
and writes that must commit together: a cell with everything mapped to it
(``delete_cell`` is all or nothing) and a ``map_instances`` batch with its
resume point (a run killed at any moment resumes after the last whole
batch). Those queries live here, under the API database's DB API
decorators, so :mod:`nova_cells.cells_admin` opens no session of its own.
"""

import dataclasses
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from oslo_utils import timeutils

from nova_cells import mapping_cache
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import routing

__all__ = [
    'CELL_OWNED_MODELS',
    'MappingCounts',
    'cell_destroy_with_mappings',
    'cell_mapping_counts',
    'host_mapping_cells',
    'instance_mapping_uuids',
    'instance_mappings_create_batch',
    'map_instances_marker',
    'map_instances_marker_delete',
    'mapping_counts',
]

#: Tables whose rows belong to a cell and go when it is deleted.
CELL_OWNED_MODELS = (api_models.InstanceMapping, api_models.HostMapping,
                     api_models.MapInstancesMarker)
#: Values bound per IN list (well under every backend's bind limit).
_CHUNK = 500

_MAPPINGS = api_models.InstanceMapping.__table__
_MARKERS = api_models.MapInstancesMarker.__table__
_CELLS = api_models.CellMapping.__table__
_HOSTS = api_models.HostMapping.__table__


def _chunks(values: Sequence) -> Iterable[Sequence]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


# -- counts -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MappingCounts:
    """How many host and instance mappings name one cell."""

    hosts: int = 0
    instance_mappings: int = 0


def _count_by_cell(session: Any, model: Any,
                   cell_id: int | None = None) -> dict[int, int]:
    statement = sa.select(model.cell_id, sa.func.count()).group_by(
        model.cell_id)
    if cell_id is not None:
        statement = statement.where(model.cell_id == cell_id)
    return dict(session.execute(statement).all())


def _count_mappings(session: Any, cell_id: int) -> MappingCounts:
    return MappingCounts(
        _count_by_cell(session, api_models.HostMapping, cell_id).get(
            cell_id, 0),
        _count_by_cell(session, api_models.InstanceMapping, cell_id).get(
            cell_id, 0))


@routing.api_reader
def cell_mapping_counts(context: Any, cell_id: int) -> MappingCounts:
    """The host and instance mappings of the cell with id ``cell_id``."""
    return _count_mappings(context.session, cell_id)


@routing.api_reader
def mapping_counts(context: Any) -> dict[int, MappingCounts]:
    """{cell id: its counts} of every cell that has any mapping."""
    hosts = _count_by_cell(context.session, api_models.HostMapping)
    instances = _count_by_cell(context.session, api_models.InstanceMapping)
    return {cell_id: MappingCounts(hosts.get(cell_id, 0),
                                   instances.get(cell_id, 0))
            for cell_id in hosts.keys() | instances.keys()}


# -- delete_cell --------------------------------------------------------------

@routing.api_writer
def cell_destroy_with_mappings(
        context: Any, cell_id: int, cell_uuid: str,
        check: Callable[[MappingCounts], None]) -> MappingCounts:
    """Delete a cell and every row that belongs to it, in one transaction.

    ``check`` is handed the cell's counts taken inside that transaction and
    raises to delete nothing: the caller decides what may go, this function
    only makes sure it goes together or not at all.
    """
    session = context.session
    counts = _count_mappings(session, cell_id)
    check(counts)
    for model in CELL_OWNED_MODELS:
        session.execute(sa.delete(model).where(model.cell_id == cell_id))
    session.execute(sa.delete(_CELLS).where(_CELLS.c.id == cell_id))
    mapping_cache.CACHE.announce(session, deleted_cells=[cell_uuid])
    return counts


@routing.api_connection_reader
def instance_mapping_uuids(context: Any, cell_id: int) -> list[str]:
    """The instance uuids mapped to a cell (without loading the mappings:
    a cell may hold hundreds of thousands)."""
    return list(context.connection.execute(sa.select(
        _MAPPINGS.c.instance_uuid).where(
        _MAPPINGS.c.cell_id == cell_id)).scalars())


# -- host mappings ------------------------------------------------------------

@routing.api_reader
def host_mapping_cells(context: Any, hosts: Iterable[str]) -> dict[str, str]:
    """{host: uuid of the cell it is mapped to}, for the mapped ones."""
    statement = sa.select(_HOSTS.c.host, _CELLS.c.uuid).join(
        _CELLS, _CELLS.c.id == _HOSTS.c.cell_id)
    found: dict[str, str] = {}
    for chunk in _chunks(list(hosts)):
        found.update(context.session.execute(
            statement.where(_HOSTS.c.host.in_(chunk))).all())
    return found


# -- map_instances ------------------------------------------------------------

@routing.api_connection_reader
def map_instances_marker(context: Any, cell_id: int) -> int | None:
    """The id of the last instance ``map_instances`` handled in a cell."""
    return context.connection.execute(sa.select(
        _MARKERS.c.last_instance_id).where(
        _MARKERS.c.cell_id == cell_id)).scalar_one_or_none()


@routing.api_writer
def map_instances_marker_delete(context: Any, cell_id: int) -> None:
    """Forget a cell's resume point (the next run starts over)."""
    context.session.execute(sa.delete(_MARKERS).where(
        _MARKERS.c.cell_id == cell_id))


def _existing_mappings(session: Any, uuids: list[str]) -> set[str]:
    return set(session.execute(sa.select(_MAPPINGS.c.instance_uuid).where(
        _MAPPINGS.c.instance_uuid.in_(uuids))).scalars())


def _by_instance_uuid(values: dict) -> str:
    return values['instance_uuid']


@routing.api_writer
def instance_mappings_create_batch(
        context: Any, cell_id: int, last_instance_id: int,
        instances: Sequence[tuple[str, str | None, str | None, bool]]
) -> tuple[int, int]:
    """Map a batch of a cell's instances and advance its resume point to
    ``last_instance_id``, in one transaction.

    ``instances`` are ``(uuid, project_id, user_id, queued_for_delete)``
    tuples (plain tuples: this runs for every instance of a cell). Those
    mapped already and those without a project (a mapping needs one) are
    skipped. Returns (mapped now, mapped already).

    :raises DBDuplicateEntry: a concurrent run mapped one of them after the
        check; nothing of the batch was written.
    """
    session = context.session
    now = timeutils.utcnow()
    # The write comes first so SQLite takes its write lock before any
    # read, instead of upgrading a read lock under a concurrent run.
    moved = session.execute(sa.update(_MARKERS).where(
        _MARKERS.c.cell_id == cell_id).values(
        last_instance_id=last_instance_id, updated_at=now)).rowcount
    if not moved:
        session.execute(sa.insert(_MARKERS).values(
            cell_id=cell_id, last_instance_id=last_instance_id,
            created_at=now))
    existing = _existing_mappings(session, [row[0] for row in instances])
    # Sorted by uuid, the inserts walk the unique index in order.
    new = sorted(
        ({'instance_uuid': uuid, 'cell_id': cell_id,
          'project_id': project_id, 'user_id': user_id,
          'queued_for_delete': queued_for_delete, 'created_at': now}
         for uuid, project_id, user_id, queued_for_delete in instances
         if uuid not in existing and project_id is not None),
        key=_by_instance_uuid)
    if new:
        session.execute(sa.insert(_MAPPINGS), new)
    return len(new), len(existing)
