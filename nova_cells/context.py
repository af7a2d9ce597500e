"""RequestContext and cell targeting.

A context is the unit of routing: every DB API function and RPC client looks
at the context it is handed and uses the cell it names, or the local
database and default transport when it names none.

``db_connection`` and ``mq_connection`` are opaque keys into the
:mod:`nova_cells.connections` registry, never URLs, so a context can be
logged, repr'd or serialized without leaking a password. They are process
local and are therefore left out of :meth:`RequestContext.to_dict`.
"""

import contextlib
import copy
from collections.abc import Iterator
from typing import Any, Protocol

from oslo_context import context as oslo_context
from oslo_db.sqlalchemy import enginefacade

from nova_cells import connections, exception

READ_DELETED_VALUES = ('no', 'yes', 'only')


class TargetableCell(Protocol):
    """What :func:`target_cell` needs of a cell: a CellMapping fits."""

    uuid: str
    database_connection: str
    transport_url: str


@enginefacade.transaction_context_provider
class RequestContext(oslo_context.RequestContext):
    """Security and routing context for one request."""

    def __init__(self, user_id: str | None = None,
                 project_id: str | None = None, is_admin: bool = False,
                 read_deleted: str = 'no', **kwargs: Any):
        super().__init__(user_id=user_id, project_id=project_id,
                         is_admin=is_admin, **kwargs)
        self.read_deleted = read_deleted
        self.db_connection: str | None = None
        self.mq_connection: str | None = None
        self.cell_uuid: str | None = None

    @property
    def read_deleted(self) -> str:
        return self._read_deleted

    @read_deleted.setter
    def read_deleted(self, value: str) -> None:
        if value not in READ_DELETED_VALUES:
            raise exception.InvalidReadDeleted(value=value)
        self._read_deleted = value

    def to_dict(self) -> dict[str, Any]:
        """Serializable values; connection keys are process local, so out."""
        values = super().to_dict()
        values['read_deleted'] = self.read_deleted
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], **kwargs: Any):
        kwargs.setdefault('read_deleted', values.get('read_deleted', 'no'))
        return super().from_dict(values, **kwargs)

    def get_logging_values(self) -> dict[str, Any]:
        values = super().get_logging_values()
        values['cell_uuid'] = self.cell_uuid
        return values

    def elevated(self, read_deleted: str | None = None) -> 'RequestContext':
        """An admin copy of this context, still targeted where it was."""
        admin = copy.copy(self)
        admin.roles = list(self.roles or [])
        if 'admin' not in admin.roles:
            admin.roles.append('admin')
        admin.is_admin = True
        if read_deleted is not None:
            admin.read_deleted = read_deleted
        return admin

    @property
    def is_targeted(self) -> bool:
        return self.db_connection is not None

    def __repr__(self) -> str:
        return ('<RequestContext request_id=%s user=%s project=%s admin=%s '
                'read_deleted=%s cell=%s>' % (
                    self.request_id, self.user_id, self.project_id,
                    self.is_admin, self.read_deleted, self.cell_uuid))


def get_admin_context(read_deleted: str = 'no') -> RequestContext:
    """An untargeted admin context for operator tools and tests."""
    return RequestContext(user_id=None, project_id=None, is_admin=True,
                          read_deleted=read_deleted, overwrite=False)


def _cell_label(cell_mapping: Any) -> str:
    return str(getattr(cell_mapping, 'identity', None) or
               getattr(cell_mapping, 'uuid', '(unknown cell)'))


def set_target_cell(context: RequestContext,
                    cell_mapping: TargetableCell | None) -> None:
    """Target ``context`` itself at a cell; ``None`` untargets it.

    Prefer :func:`target_cell`, which leaves the caller's context alone;
    this is for code that owns the context it changes.

    :raises InvalidCellURL: the cell's database or transport URL is
        unusable (named by cell, password masked).
    """
    if cell_mapping is None:
        context.db_connection = None
        context.mq_connection = None
        context.cell_uuid = None
        return
    registry = connections.get_registry()
    label = _cell_label(cell_mapping)
    db_key = registry.database_key(cell_mapping.database_connection,
                                   cell=label)
    transport_url = getattr(cell_mapping, 'transport_url', None)
    if transport_url is None:
        # Never fall back to the local bus for a cell: no URL, no queue.
        mq_key = connections.NO_TRANSPORT_KEY
    else:
        mq_key = registry.transport_key(transport_url, cell=label)
    context.db_connection = db_key
    context.mq_connection = mq_key
    context.cell_uuid = cell_mapping.uuid


@contextlib.contextmanager
def target_cell(context: RequestContext,
                cell_mapping: TargetableCell | None
                ) -> Iterator[RequestContext]:
    """Yield a copy of ``context`` targeted at ``cell_mapping``.

    The copy is rebuilt from ``to_dict()`` rather than ``copy.copy()``:
    oslo.db keeps its per-thread transaction state on the context object,
    and a shallow copy would share it, letting a transaction opened on one
    cell's database be picked up by a call meant for another (or by another
    thread). The rebuilt copy starts with no transaction and no earlier
    target, and the caller's context is never modified.
    """
    targeted = context.from_dict(context.to_dict())
    set_target_cell(targeted, cell_mapping)
    yield targeted
