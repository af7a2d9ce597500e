"""What crosses the bus with each RPC message: the context and the objects.

:class:`RequestContextSerializer` sends the caller's context as a plain
dictionary and rebuilds a :class:`~nova_cells.context.RequestContext` on the
receiving side. What it leaves out, and why:

* ``db_connection``, ``mq_connection`` and ``cell_uuid``: registry keys are
  meaningful only in the process that made them (the receiver has its own
  registry), and where a message goes is decided by the transport it is
  sent on, not by fields in it.
* ``auth_token``: a bearer token is a credential, and every consumer on the
  bus (and every broker log or dump) would see it. It stays out unless
  ``forward_auth_token=True`` is asked for, by a service that must act on
  the user's behalf against another API (Nova always forwards it; here it
  is opt-in).

Entities go through :class:`ObjectSerializer`: versioned objects in the
``nova`` namespace travel as primitives Nova services understand; other
values pass through unchanged.
"""

from typing import Any

import oslo_messaging
from oslo_versionedobjects import base as ovo_base

from nova_cells import context as nova_context

__all__ = [
    'CREDENTIAL_KEYS',
    'ObjectSerializer',
    'PROCESS_LOCAL_KEYS',
    'RequestContextSerializer',
]

#: Keys that never leave the process, whatever the caller's context holds.
PROCESS_LOCAL_KEYS = ('db_connection', 'mq_connection', 'cell_uuid')
#: Credentials left out unless forwarding is asked for.
CREDENTIAL_KEYS = ('auth_token',)


class _NovaNamespaceObject(ovo_base.VersionedObject):
    """Hydration base for objects in Nova's namespace; never registered.

    The serializer rebuilds an object through its base class, which checks
    the primitive's namespace; Nova's namespace (``nova`` / ``nova_object``)
    keeps the primitives interchangeable with Nova services.
    """

    OBJ_PROJECT_NAMESPACE = 'nova'
    OBJ_SERIAL_NAMESPACE = 'nova_object'


class ObjectSerializer(ovo_base.VersionedObjectSerializer):
    """Versioned objects of the ``nova`` namespace to and from primitives."""

    OBJ_BASE_CLASS = _NovaNamespaceObject


class RequestContextSerializer(oslo_messaging.Serializer):
    """Carries the context (minus keys and credentials) and the entities.

    :param base: serializer for entities; :class:`ObjectSerializer` when
        None.
    :param forward_auth_token: send the caller's ``auth_token`` too.
    :param serving_context: on a server, a context targeted at the cell the
        server answers for; incoming contexts are targeted at that cell.
    """

    def __init__(self, base: oslo_messaging.Serializer | None = None, *,
                 forward_auth_token: bool = False,
                 serving_context: Any = None):
        self._base = base if base is not None else ObjectSerializer()
        self._forward_auth_token = forward_auth_token
        self._serving_context = serving_context

    def serving(self, serving_context: Any) -> 'RequestContextSerializer':
        """A copy that targets incoming contexts at ``serving_context``."""
        return RequestContextSerializer(
            self._base, forward_auth_token=self._forward_auth_token,
            serving_context=serving_context)

    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return self._base.serialize_entity(ctxt, entity)

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return self._base.deserialize_entity(ctxt, entity)

    def serialize_context(self, ctxt: Any) -> dict[str, Any]:
        if ctxt is None:
            values: dict[str, Any] = {}
        elif isinstance(ctxt, dict):
            values = dict(ctxt)
        else:
            values = ctxt.to_dict()
        for key in PROCESS_LOCAL_KEYS:
            values.pop(key, None)
        if not self._forward_auth_token:
            for key in CREDENTIAL_KEYS:
                values.pop(key, None)
        return values

    def deserialize_context(self, values: dict[str, Any]
                            ) -> nova_context.RequestContext:
        ctxt = nova_context.RequestContext.from_dict(values)
        serving = self._serving_context
        if serving is not None:
            ctxt.db_connection = serving.db_connection
            ctxt.mq_connection = serving.mq_connection
            ctxt.cell_uuid = serving.cell_uuid
        return ctxt
