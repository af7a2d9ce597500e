"""CellMapping: where a cell's main database and message queue are.

Fields, names and versions are Nova's, so primitives move between nova_cells
and Nova services. A stored URL may be a template; how templates are filled
and kept is :mod:`nova_cells.objects.cell_urls`'s. A template this node
cannot fill stays as it is; loading and listing work, and
:meth:`CellMapping.target` raises
:class:`~nova_cells.exception.CellURLTemplateError` naming the variable.

Remotable methods carry no annotations on purpose: annotations enter
oslo.versionedobjects' fingerprint, and without them our fingerprints are
exactly Nova's (see ``tests/unit/objects/test_objects.py``).
"""

import contextlib
from typing import Any

import sqlalchemy as sa
from oslo_db import exception as db_exception
from oslo_utils import uuidutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells import urls
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import routing
from nova_cells.objects import base
from nova_cells.objects.cell_urls import URL_FIELDS
from nova_cells.objects.cell_urls import CellURLs
from nova_cells.objects.cell_urls import FilledCell

__all__ = [
    'CELL0_UUID',
    'CellMapping',
    'CellMappingList',
    'TABLE',
    'URL_FIELDS',
    'row_filter',
]

CELL0_UUID = '00000000-0000-0000-0000-000000000000'

_REQUIRED_ON_CREATE = ('uuid', 'transport_url', 'database_connection')

# Reads are SQLAlchemy Core statements built once, run on a Core connection
# (routing.api_connection_reader): the hot lookups skip ORM sessions, entity
# loading and statement construction, and _from_db_object only needs a
# mapping of column to value.
TABLE = api_models.CellMapping.__table__
_BY_UUID = sa.select(TABLE).where(TABLE.c.uuid == sa.bindparam('uuid'))
_ALL = sa.select(TABLE).order_by(TABLE.c.id)
def row_filter(mapping: 'CellMapping') -> Any:
    """WHERE clause finding a mapping's row: by id if known, else uuid."""
    return base.row_filter(mapping, TABLE, 'uuid', 'a cell mapping')


def _select_one(context: Any, where: Any) -> Any:
    row = context.session.execute(sa.select(TABLE).where(where)).first()
    return None if row is None else row._mapping


@base.NovaCellsObjectRegistry.register
class CellMapping(CellURLs, base.TimestampedObject, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added disabled
    VERSION = '1.1'
    _FIELDS_ADDED = {'1.1': ('disabled',)}

    CELL0_UUID = CELL0_UUID

    fields = {
        'id': fields.IntegerField(read_only=True),
        'uuid': fields.UUIDField(),
        'name': fields.StringField(nullable=True),
        'transport_url': fields.StringField(),
        'database_connection': fields.StringField(),
        'disabled': fields.BooleanField(default=False),
    }

    def obj_make_compatible(self, primitive: dict,
                            target_version: str) -> None:
        super().obj_make_compatible(primitive, target_version)
        base.drop_fields_newer_than(primitive, target_version,
                                    self._FIELDS_ADDED)

    # -- presentation ------------------------------------------------------
    @property
    def identity(self) -> str:
        """``uuid(name)``, or the uuid of an unnamed cell; for messages."""
        uuid = self.uuid if self.obj_attr_is_set('uuid') else '(no uuid)'
        if self.obj_attr_is_set('name') and self.name:
            return '%s(%s)' % (uuid, self.name)
        return uuid

    def is_cell0(self) -> bool:
        return self.obj_attr_is_set('uuid') and self.uuid == CELL0_UUID

    def __repr__(self) -> str:
        """Like oslo.versionedobjects' repr, with every password masked."""
        shown = []
        for name in sorted(self.fields):
            if not self.obj_attr_is_set(name):
                value = '<?>'
            elif name in URL_FIELDS:
                value = urls.mask_url(getattr(self, name))
            else:
                value = self.fields[name].stringify(getattr(self, name))
            shown.append('%s=%s' % (name, value))
        return '%s(%s)' % (self.obj_name(), ','.join(shown))

    __str__ = __repr__

    # -- targeting -----------------------------------------------------------
    def target(self, ctxt: nova_context.RequestContext
               ) -> contextlib.AbstractContextManager:
        """Context manager yielding a copy of ``ctxt`` targeted here.

        ``with cell_mapping.target(ctxt) as cctxt: ...``

        :raises CellURLTemplateError: a URL template of this cell could not
            be filled from the local configuration when it was loaded
            (names the variable); load it again after fixing the config.
        """
        self._refuse_unfilled()
        return nova_context.target_cell(ctxt, self)

    def reaches_same_place_as(self, other: Any) -> bool:
        """Whether ``other`` is this cell with the same URLs, so that
        targeting either reaches the same database and queue."""
        return other is not None and all(
            getattr(self, name) == getattr(other, name)
            for name in ('uuid',) + URL_FIELDS)

    def with_urls_filled(self) -> Any:
        """This cell with its URL templates filled: itself when they were
        filled on load (or there are none), else a filled view.

        :func:`nova_cells.context.set_target_cell` calls this once per
        targeting (:class:`~nova_cells.context.TargetableCell`), so
        targeting a cell directly checks its templates too.

        :raises CellURLTemplateError: naming the variable that is missing.
        :raises CellDeleted: this process has seen the cell deleted (with
            the mapping cache on).
        """
        mapping_cache.CACHE.refuse_if_deleted(self)
        self._refuse_unfilled()
        for field in URL_FIELDS:  # a loop, not any(): on every targeting
            if field not in self._url_templates and (
                    urls.is_template(getattr(self, field))):
                # Built in memory or received holding a template: fill now.
                return FilledCell(self)
        return self

    def __deepcopy__(self, memo: dict) -> 'CellMapping':
        copied = super().__deepcopy__(memo)
        copied._url_templates = dict(self._url_templates)
        copied._unfilled = dict(self._unfilled)
        return copied

    def copy_from_cache(self, context: Any) -> 'CellMapping':
        """An unchanged copy bound to ``context``, as the mapping cache
        keeps and hands out cells: a tenth of ``obj_clone``'s cost, which
        matters on a cache hit. Field values are immutable, so sharing
        them is safe; the per-object dictionaries are copied."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._changed_fields = set()
        copy._context = context
        copy._url_templates = dict(self._url_templates)
        copy._unfilled = dict(self._unfilled)
        return copy

    # -- database ------------------------------------------------------------
    @staticmethod
    def _from_db_object(context: Any, cell_mapping: 'CellMapping',
                        db_row: Any) -> 'CellMapping':
        for name in cell_mapping.fields:
            if name in URL_FIELDS:
                continue
            value = db_row[name]
            if name == 'disabled' and value is None:
                value = False  # rows written before the column existed
            setattr(cell_mapping, name, value)
        cell_mapping._fill_urls(db_row)
        cell_mapping.obj_reset_changes()
        cell_mapping._context = context
        return cell_mapping

    @staticmethod
    @routing.api_connection_reader
    def _get_by_uuid_from_db(context: Any, uuid: str) -> Any:
        row = context.connection.execute(_BY_UUID, {'uuid': uuid}).first()
        if row is None:
            raise exception.CellMappingNotFound(uuid=uuid)
        return row._mapping

    @classmethod
    @ovo_base.remotable
    def get_by_uuid(cls, context, uuid):
        """:raises CellMappingNotFound: no cell has that uuid."""
        cached = mapping_cache.CACHE.get_cell(context, uuid)
        if cached is not None:
            return cached
        epoch = mapping_cache.CACHE.load_token(context)
        db_row = cls._get_by_uuid_from_db(context, uuid)
        cell = cls._from_db_object(context, cls(), db_row)
        mapping_cache.CACHE.put_cell(cell, epoch)
        return cell

    @staticmethod
    @routing.api_writer
    def _create_in_db(context: Any, updates: dict) -> Any:
        try:
            result = context.session.execute(
                sa.insert(TABLE).values(**updates))
        except db_exception.DBDuplicateEntry:
            raise exception.CellMappingExists(uuid=updates['uuid']) from None
        # A new cell changes the cell list every process may have cached.
        mapping_cache.CACHE.announce(context.session, cells=[updates['uuid']])
        return _select_one(context,
                           TABLE.c.id == result.inserted_primary_key[0])

    @ovo_base.remotable
    def create(self):
        """Store this new cell mapping (a uuid is generated if unset).

        :raises CellMappingExists: a cell with this uuid exists already.
        :raises ObjectActionError: already created, or a field is missing.
        """
        base.refuse_created(self, 'create a cell mapping')
        if not self.obj_attr_is_set('uuid'):
            self.uuid = uuidutils.generate_uuid()
        base.require_fields(self, 'create cell mapping %s' % self.uuid,
                            _REQUIRED_ON_CREATE)
        db_row = self._create_in_db(self._context, self._urls_for_write(
            self.obj_get_changes()))
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _save_in_db(context: Any, where: Any, label: str,
                    updates: dict) -> Any:
        if updates:
            before = _select_one(context, where)
            try:
                result = context.session.execute(
                    sa.update(TABLE).where(where).values(**updates))
            except db_exception.DBDuplicateEntry:
                raise exception.CellMappingExists(
                    uuid=updates.get('uuid')) from None
            if result.rowcount == 0:
                raise exception.CellMappingNotFound(uuid=label)
        db_row = _select_one(context, where)
        if db_row is None:
            raise exception.CellMappingNotFound(uuid=label)
        if updates:
            mapping_cache.CACHE.announce(
                context.session, cells={before['uuid'], db_row['uuid']})
        return db_row

    @ovo_base.remotable
    def save(self):
        """Write the changed fields; URL templates stay templates.

        :raises CellMappingNotFound: the mapping was deleted meanwhile.
        :raises CellMappingExists: the new uuid belongs to another cell.
        """
        updates = self._urls_for_write(self.obj_get_changes())
        updates.pop('id', None)
        db_row = self._save_in_db(self._context, row_filter(self),
                                  self.identity, updates)
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _destroy_in_db(context: Any, where: Any, label: str) -> None:
        before = _select_one(context, where)
        try:
            result = context.session.execute(sa.delete(TABLE).where(where))
        except db_exception.DBReferenceError:
            raise exception.CellMappingInUse(uuid=label) from None
        if result.rowcount == 0:
            raise exception.CellMappingNotFound(uuid=label)
        mapping_cache.CACHE.announce(context.session,
                                     deleted_cells=[before['uuid']])

    @ovo_base.remotable
    def destroy(self):
        """:raises CellMappingNotFound: already gone.
        :raises CellMappingInUse: host or instance mappings still use it."""
        self._destroy_in_db(self._context, row_filter(self), self.identity)


@base.NovaCellsObjectRegistry.register
class CellMappingList(ovo_base.ObjectListBase, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added get_by_disabled()
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('CellMapping'),
    }

    @staticmethod
    @routing.api_connection_reader
    def _get_all_from_db(context: Any) -> list:
        return list(context.connection.execute(_ALL).mappings())

    @classmethod
    @ovo_base.remotable
    def get_all(cls, context):
        """Every cell mapping, ordered by id (cell0 first when mapped
        first, as ``map_cell0`` does)."""
        return cls._from_cells(context, cls._cached_cells(context))

    @classmethod
    def _cached_cells(cls, context: Any) -> list:
        """Every cell, from the mapping cache when it has the list."""
        cells = mapping_cache.CACHE.get_cell_list(context)
        if cells is None:
            epoch = mapping_cache.CACHE.load_token(context)
            cells = [CellMapping._from_db_object(context, CellMapping(), row)
                     for row in cls._get_all_from_db(context)]
            mapping_cache.CACHE.put_cell_list(cells, epoch)
        return cells

    @classmethod
    def _from_cells(cls, context: Any, cells: list) -> 'CellMappingList':
        cell_list = cls(context, objects=cells)
        cell_list.obj_reset_changes()
        return cell_list

    @classmethod
    @ovo_base.remotable
    def get_by_disabled(cls, context, disabled):
        """The disabled (or enabled) cell mappings, ordered by id."""
        return cls._from_cells(context, [
            cell for cell in cls._cached_cells(context)
            if cell.disabled == bool(disabled)])

    @staticmethod
    @routing.api_connection_reader
    def _get_by_project_id_from_db(context: Any,
                                   project_id: str) -> list:
        mappings = api_models.InstanceMapping.__table__
        cell_ids = sa.select(mappings.c.cell_id).where(
            mappings.c.project_id == project_id)
        statement = sa.select(TABLE).where(TABLE.c.id.in_(cell_ids)
                                           ).order_by(TABLE.c.id)
        return list(context.connection.execute(statement).mappings())

    @classmethod
    def get_by_project_id(cls, context: Any,
                          project_id: str) -> 'CellMappingList':
        """The cells holding instance mappings of ``project_id``, each
        once, ordered by id."""
        return base.make_list(
            context, cls(), CellMapping,
            cls._get_by_project_id_from_db(context, project_id))
