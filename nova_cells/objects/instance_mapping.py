"""InstanceMapping: which cell an instance lives in.

An instance is mapped before it is scheduled, so ``cell_mapping`` is None
until a cell is chosen; :meth:`InstanceMapping.target` then says so
clearly instead of routing somewhere by default. Every query loads the
mapped cell in the same statement, a LEFT OUTER JOIN in SQLAlchemy Core
(built once), so no mapping ever costs a second round trip for its cell.

``user_id`` is nullable here (mappings created before Nova recorded users
have none), while Nova declares it non-nullable and leaves it unset instead.
To stay wire-compatible, a None ``user_id`` travels as an unset field, and
an unset one reads as None. Remotable methods carry no annotations so that
their fingerprints stay comparable with Nova's.
"""

import contextlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields

from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import routing
from nova_cells.objects import base
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.objects import instance_mapping_cache
from nova_cells.objects import rows_with_cell
from nova_cells.objects.instance_mapping_cache import CACHED_ATTRIBUTES

__all__ = [
    'IN_CLAUSE_CHUNK',
    'InstanceMapping',
    'InstanceMappingList',
    'TABLE',
    'call_in_instance_cell',
    'get_instance',
]

TABLE = api_models.InstanceMapping.__table__
# A mapping may have no cell yet, hence the outer join.
_ROWS = rows_with_cell.RowsWithCell(TABLE, cell_optional=True)
_BY_INSTANCE_UUID = _ROWS.statement.where(
    TABLE.c.instance_uuid == sa.bindparam('uuid'))
_REQUIRED_ON_CREATE = ('instance_uuid', 'project_id')
#: Bound parameters per IN clause; well under every backend's limit.
IN_CLAUSE_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = list(dict.fromkeys(values))  # unique, order kept
    for start in range(0, len(values), IN_CLAUSE_CHUNK):
        yield values[start:start + IN_CLAUSE_CHUNK]


@base.NovaCellsObjectRegistry.register
class InstanceMapping(base.TimestampedObject, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added queued_for_delete
    # Version 1.2: Added user_id
    VERSION = '1.2'
    _FIELDS_ADDED = {'1.1': ('queued_for_delete',), '1.2': ('user_id',)}

    # Without a version manifest, a backported mapping carries its cell at
    # the oldest version a receiver of that mapping version may know.
    obj_relationships = {'cell_mapping': [('1.0', '1.0'), ('1.1', '1.1')]}

    fields = {
        'id': fields.IntegerField(read_only=True),
        'instance_uuid': fields.UUIDField(),
        'cell_mapping': fields.ObjectField('CellMapping', nullable=True),
        'project_id': fields.StringField(),
        'user_id': fields.StringField(nullable=True),
        'queued_for_delete': fields.BooleanField(default=False),
    }

    def obj_make_compatible(self, primitive: dict,
                            target_version: str) -> None:
        super().obj_make_compatible(primitive, target_version)
        base.drop_fields_newer_than(primitive, target_version,
                                    self._FIELDS_ADDED)

    def obj_to_primitive(self, target_version: str | None = None,
                         version_manifest: dict | None = None) -> dict:
        """Nova rejects a None ``user_id``; send it as unset instead."""
        primitive = super().obj_to_primitive(target_version,
                                             version_manifest)
        data = primitive[self._obj_primitive_key('data')]
        if 'user_id' in data and data['user_id'] is None:
            del data['user_id']
            changes = primitive.get(self._obj_primitive_key('changes'))
            if changes and 'user_id' in changes:
                changes.remove('user_id')
        return primitive

    def obj_load_attr(self, attrname: str) -> None:
        if attrname == 'user_id':
            # Unset (as Nova sends a mapping without a user) reads as None.
            self.user_id = None
            self._changed_fields.discard('user_id')
            return
        super().obj_load_attr(attrname)

    def target(self, ctxt: Any) -> contextlib.AbstractContextManager:
        """Context manager yielding ``ctxt`` targeted at the mapped cell.

        :raises InstanceNotMappedToCell: the instance has no cell yet.
        :raises CellURLTemplateError: its cell's URL template cannot be
            filled here.
        """
        cell = (self.cell_mapping if self.obj_attr_is_set('cell_mapping')
                else None)
        if cell is None:
            raise exception.InstanceNotMappedToCell(
                uuid=self.instance_uuid
                if self.obj_attr_is_set('instance_uuid') else '(unknown)')
        return cell.target(ctxt)

    # -- database ------------------------------------------------------------
    @staticmethod
    def _from_db_object(context: Any, instance_mapping: 'InstanceMapping',
                        db_row: Any) -> 'InstanceMapping':
        for name in instance_mapping.fields:
            value = db_row[name]  # a mapping of column to value
            if name == 'cell_mapping' and value is not None:
                value = cell_mapping_obj.CellMapping._from_db_object(
                    context, cell_mapping_obj.CellMapping(), value)
            elif name == 'queued_for_delete' and value is None:
                value = False  # not yet migrated: Nova treats it as live
            setattr(instance_mapping, name, value)
        instance_mapping.obj_reset_changes()
        instance_mapping._context = context
        return instance_mapping

    @staticmethod
    @routing.api_connection_reader
    def _get_by_instance_uuid_from_db(context: Any,
                                      instance_uuid: str) -> dict:
        return _ROWS.first(
            context.connection, _BY_INSTANCE_UUID, {'uuid': instance_uuid},
            lambda: exception.InstanceMappingNotFound(uuid=instance_uuid))

    @classmethod
    @ovo_base.remotable
    def get_by_instance_uuid(cls, context, instance_uuid):
        """The mapping with its cell, loaded in one query.

        :raises InstanceMappingNotFound: the instance is not mapped.
        """
        cached = mapping_cache.CACHE.get_instance(context, instance_uuid)
        if cached is not None:
            values, cell = cached
            return base.from_cached(
                cls, context, CACHED_ATTRIBUTES, values,
                _obj_instance_uuid=instance_uuid, _obj_cell_mapping=cell)
        epoch = mapping_cache.CACHE.load_token(context)
        db_row = cls._get_by_instance_uuid_from_db(context, instance_uuid)
        mapping = cls._from_db_object(context, cls(), db_row)
        mapping_cache.CACHE.put_instance(
            instance_uuid, mapping.cell_mapping,
            instance_mapping_cache.cache_values(mapping), epoch)
        return mapping

    @staticmethod
    @routing.api_writer
    def _create_in_db(context: Any, updates: dict) -> dict:
        return _ROWS.insert(
            context.session, updates,
            duplicate=lambda: exception.InstanceMappingExists(
                uuid=updates['instance_uuid']))

    @ovo_base.remotable
    def create(self):
        """Store this new mapping (not queued for delete unless set).

        :raises InstanceMappingExists: the instance is mapped already.
        :raises CellMappingNotFound: its cell mapping no longer exists.
        """
        base.refuse_created(self, 'create an instance mapping')
        base.require_fields(self, 'create an instance mapping',
                            _REQUIRED_ON_CREATE)
        updates = base.changes_for_write(self, 'create an instance mapping')
        updates.setdefault('queued_for_delete', False)
        db_row = self._create_in_db(self._context, updates)
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _save_in_db(context: Any, where: Any, label: str,
                    updates: dict) -> dict:
        before = instance_mapping_cache.lock_before_write(
            context.session, where)
        row = _ROWS.update(
            context.session, where, updates,
            duplicate=lambda: exception.InstanceMappingExists(
                uuid=updates.get('instance_uuid')),
            not_found=lambda: exception.InstanceMappingNotFound(uuid=label))
        instance_mapping_cache.announce_write(
            context.session, before, row, bool(updates))
        return row

    @ovo_base.remotable
    def save(self):
        """Write the changed fields; ``cell_mapping = None`` unmaps.

        :raises InstanceMappingNotFound: the mapping was deleted meanwhile.
        """
        updates = base.changes_for_write(self, 'save an instance mapping')
        db_row = self._save_in_db(self._context, *self._row(), updates)
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _destroy_in_db(context: Any, where: Any, label: str) -> None:
        before = instance_mapping_cache.lock_before_write(
            context.session, where)
        result = context.session.execute(sa.delete(TABLE).where(where))
        if result.rowcount == 0:
            raise exception.InstanceMappingNotFound(uuid=label)
        instance_mapping_cache.announce_write(
            context.session, before, None, True)

    @ovo_base.remotable
    def destroy(self):
        """:raises InstanceMappingNotFound: already gone."""
        self._destroy_in_db(self._context, *self._row())

    def _row(self) -> tuple:
        """The WHERE clause finding this mapping's row, and its label."""
        return (base.row_filter(self, TABLE, 'instance_uuid',
                                'an instance mapping'),
                base.label(self, 'instance_uuid'))


@base.NovaCellsObjectRegistry.register
class InstanceMappingList(ovo_base.ObjectListBase, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added get_by_cell_id()
    # Version 1.2: Added get_by_instance_uuids()
    # Version 1.3: Added get_counts()
    VERSION = '1.3'

    fields = {
        'objects': fields.ListOfObjectsField('InstanceMapping'),
    }

    @staticmethod
    @routing.api_connection_reader
    def _get_where_from_db(context: Any, *where: Any,
                           limit: int | None = None) -> list[dict]:
        return _ROWS.select(context.connection, *where, limit=limit)

    @classmethod
    def _make(cls, context: Any, db_rows: list) -> 'InstanceMappingList':
        return base.make_list(context, cls(), InstanceMapping, db_rows)

    @classmethod
    @ovo_base.remotable
    def get_by_project_id(cls, context, project_id):
        """Every mapping of a project, queued for delete or not."""
        return cls._make(context, cls._get_where_from_db(
            context, TABLE.c.project_id == project_id))

    @classmethod
    @ovo_base.remotable
    def get_by_cell_id(cls, context, cell_id):
        """Every mapping into the cell with database id ``cell_id``."""
        return cls._make(context, cls._get_where_from_db(
            context, TABLE.c.cell_id == cell_id))

    @staticmethod
    @routing.api_reader
    def _get_by_instance_uuids_from_db(context: Any,
                                       uuids: Iterable[str]) -> list[dict]:
        # A statement per chunk, all in one snapshot.
        rows = []
        for chunk in _chunks(uuids):
            rows += _ROWS.select(context.session,
                                 TABLE.c.instance_uuid.in_(chunk))
        return sorted(rows, key=lambda row: row['id'])

    @classmethod
    @ovo_base.remotable
    def get_by_instance_uuids(cls, context, uuids):
        """The mappings of those instances that have one, by id."""
        return cls._make(context,
                         cls._get_by_instance_uuids_from_db(context, uuids))

    @staticmethod
    @routing.api_writer
    def _destroy_bulk_in_db(context: Any, instance_uuids: Iterable[str]
                            ) -> int:
        instance_uuids = list(instance_uuids)
        deleted = 0
        for chunk in _chunks(instance_uuids):
            deleted += context.session.execute(sa.delete(TABLE).where(
                TABLE.c.instance_uuid.in_(chunk))).rowcount
        if deleted:
            mapping_cache.CACHE.announce(context.session,
                                         instances=instance_uuids)
        return deleted

    @classmethod
    def destroy_bulk(cls, context: Any,
                     instance_uuids: Iterable[str]) -> int:
        """Delete the mappings of those instances in one transaction;
        returns how many existed."""
        return cls._destroy_bulk_in_db(context, instance_uuids)

    @classmethod
    def get_not_deleted_by_cell_and_project(
            cls, context: Any, cell_uuid: str, project_id: str | None,
            limit: int | None = None) -> 'InstanceMappingList':
        """Mappings into cell ``cell_uuid`` not queued for delete.

        ``project_id`` None means every project. Unlike the other queries,
        mappings queued for delete are left out; a NULL
        ``queued_for_delete`` (never migrated) counts as not queued.
        """
        where = [
            cell_mapping_obj.TABLE.c.uuid == cell_uuid,
            sa.or_(TABLE.c.queued_for_delete == sa.false(),
                   TABLE.c.queued_for_delete.is_(None)),
        ]
        if project_id is not None:
            where.append(TABLE.c.project_id == project_id)
        return cls._make(context, cls._get_where_from_db(
            context, *where, limit=limit))

    @staticmethod
    @routing.api_reader
    def _get_counts_in_db(context: Any, project_id: str,
                          user_id: str | None = None) -> dict:
        # Two counts from one snapshot.
        session = context.session
        live = sa.select(sa.func.count(TABLE.c.id)).where(
            TABLE.c.project_id == project_id,
            TABLE.c.queued_for_delete == sa.false())
        counts = {'project': {
            'instances': session.execute(live).scalar_one()}}
        if user_id:
            counts['user'] = {'instances': session.execute(
                live.where(TABLE.c.user_id == user_id)).scalar_one()}
        return counts

    @classmethod
    @ovo_base.remotable
    def get_counts(cls, context, project_id, user_id=None):
        """Instances counted for quota, as Nova counts them.

        Returns ``{'project': {'instances': N}}``, plus ``'user'`` when
        ``user_id`` is given. Only mappings whose ``queued_for_delete`` is
        False count: True (deleted) and NULL (unknown) do not.
        """
        return cls._get_counts_in_db(context, project_id, user_id=user_id)


def call_in_instance_cell(ctxt: Any, instance_uuid: str, fn: Callable,
                          *args: Any, **kwargs: Any) -> Any:
    """``fn(cell_context, *args, **kwargs)`` in the instance's cell.

    The mapping may come from the mapping cache, and so may be older than
    a move of the instance to another cell. When ``fn`` raises
    InstanceNotFound, the mapping is looked up once more in the API
    database; if it now names another cell (or the cell's URLs changed),
    ``fn`` runs there, so a moved instance is found, never reported gone.

    :raises InstanceMappingNotFound: the instance is not mapped.
    :raises InstanceNotMappedToCell: it has no cell yet.
    :raises InstanceNotFound: not in the cell its mapping names, once
        looked up again.
    """
    mapping = InstanceMapping.get_by_instance_uuid(ctxt, instance_uuid)
    try:
        with mapping.target(ctxt) as cctxt:
            return fn(cctxt, *args, **kwargs)
    except exception.InstanceNotFound:
        mapping_cache.CACHE.forget(instances=[instance_uuid])
        fresh = InstanceMapping.get_by_instance_uuid(ctxt, instance_uuid)
        if mapping.cell_mapping.reaches_same_place_as(fresh.cell_mapping):
            raise
    with fresh.target(ctxt) as cctxt:
        return fn(cctxt, *args, **kwargs)


def get_instance(ctxt: Any, instance_uuid: str) -> Any:
    """The instance's row from its cell ("show instance"), routed by its
    mapping; see :func:`call_in_instance_cell`.

    :raises InstanceNotFound: the instance is in no cell database.
    """
    return call_in_instance_cell(ctxt, instance_uuid,
                                 db_api.instance_get_by_uuid, instance_uuid)
