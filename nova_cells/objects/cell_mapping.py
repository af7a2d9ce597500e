"""CellMapping: where a cell's main database and message queue are.

Fields, names and versions are Nova's, so primitives move between nova_cells
and Nova services. A stored URL may be a template
(:mod:`nova_cells.urls.templates`): the object's ``transport_url``
and ``database_connection`` hold the *filled* URL, as Nova's do, while the
stored template is remembered and is what :meth:`CellMapping.save` writes.
A template this node cannot fill stays as it is (never ``None``); loading
and listing work, and :meth:`CellMapping.target` raises
:class:`~nova_cells.exception.CellURLTemplateError` naming the variable.

Remotable methods carry no annotations on purpose: annotations enter
oslo.versionedobjects' fingerprint, and without them our fingerprints are
exactly Nova's (see ``tests/unit/objects/test_objects.py``).
"""

import contextlib
import logging
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
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.objects import base

__all__ = [
    'CELL0_UUID',
    'CellMapping',
    'CellMappingList',
    'JOINED_PREFIX',
    'TABLE',
    'URL_FIELDS',
    'joined_columns',
    'pop_joined_row',
    'row_filter',
]

LOG = logging.getLogger(__name__)

CELL0_UUID = '00000000-0000-0000-0000-000000000000'

URL_FIELDS = ('transport_url', 'database_connection')
_REQUIRED_ON_CREATE = ('uuid', 'transport_url', 'database_connection')

# Reads are SQLAlchemy Core statements built once, run on a Core connection
# (db_api.api_connection_reader): the hot lookups skip ORM sessions, entity
# loading and statement construction, and _from_db_object only needs a
# mapping of column to value.
TABLE = api_models.CellMapping.__table__
_BY_UUID = sa.select(TABLE).where(TABLE.c.uuid == sa.bindparam('uuid'))
_ALL = sa.select(TABLE).order_by(TABLE.c.id)
#: Label prefix of a cell's columns joined onto another mapping's row.
JOINED_PREFIX = 'cell_mapping_'


def joined_columns() -> list:
    """The cell's columns, labelled to sit beside another table's."""
    return [column.label(JOINED_PREFIX + column.name)
            for column in TABLE.columns]


def pop_joined_row(values: dict) -> dict | None:
    """Remove the joined cell's columns from ``values`` and return them
    as the cell's own row (None when the outer join found no cell)."""
    cell = {name: values.pop(JOINED_PREFIX + name)
            for name in TABLE.columns.keys()}
    return cell if cell['id'] is not None else None


def row_filter(mapping: 'CellMapping') -> Any:
    """WHERE clause finding a mapping's row: by id if known, else uuid."""
    if mapping.obj_attr_is_set('id'):
        return TABLE.c.id == mapping.id
    if mapping.obj_attr_is_set('uuid'):
        return TABLE.c.uuid == mapping.uuid
    raise exception.ObjectActionError(
        action='find a cell mapping', reason='it has neither id nor uuid')


def _select_one(context: Any, where: Any) -> Any:
    row = context.session.execute(sa.select(TABLE).where(where)).first()
    return None if row is None else row._mapping


def _format_url(field: str, url: str | None) -> str | None:
    rendering = urls.render_field(field, url)
    if not rendering.complete:
        # Reasons name variables and options, never their values.
        LOG.error('Cannot fill the %s template %s: %s', field,
                  urls.mask_url(url), '; '.join(
                      reason for _, reason in rendering.missing))
    return rendering.url


@base.NovaCellsObjectRegistry.register
class CellMapping(base.TimestampedObject, base.NovaCellsObject):
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

    def __init__(self, context: Any = None, **kwargs: Any) -> None:
        super().__init__(context, **kwargs)
        # Stored templates by field, and the fields left unfilled; set by
        # _from_db_object, empty for a mapping built in memory.
        self._url_templates: dict[str, str] = {}
        self._unfilled: dict[str, urls.Rendering] = {}

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

    # -- templates ---------------------------------------------------------
    def stored_url(self, field: str) -> str:
        """The value stored for ``field``: its template if it was one."""
        return self._url_templates.get(field, getattr(self, field))

    @property
    def unfilled_url_fields(self) -> dict[str, str]:
        """Fields whose template could not be filled, with the reason."""
        return {field: '; '.join(reason for _, reason in rendering.missing)
                for field, rendering in self._unfilled.items()}

    def _fill_urls(self, db_row: Any) -> None:
        for field in URL_FIELDS:
            stored = db_row[field]
            if not urls.is_template(stored):
                self._url_templates.pop(field, None)
                self._unfilled.pop(field, None)
                setattr(self, field, stored)
                continue
            rendering = urls.render_field(field, stored)
            self._url_templates[field] = stored
            if rendering.complete:
                self._unfilled.pop(field, None)
            else:
                self._unfilled[field] = rendering
            setattr(self, field, rendering.url)

    # Nova's names: ``nova-manage`` fills a URL given on its command line
    # with ``CellMapping.format_mq_url(url)`` / ``format_db_url(url)``.
    # The same filling as a loaded cell's; as in Nova, a template this node
    # cannot fill comes back as it was (and the reason is logged).
    @staticmethod
    def format_db_url(url):
        """``url`` filled from ``[database] connection``."""
        return _format_url('database_connection', url)

    @staticmethod
    def format_mq_url(url):
        """``url`` filled from ``[DEFAULT] transport_url``."""
        return _format_url('transport_url', url)

    def _urls_for_write(self, updates: dict) -> dict:
        """``updates`` with each URL as it must be stored.

        Assigning back the filled value of a loaded template (for example
        ``cell.transport_url = cell.transport_url``) keeps the template, so
        a save never replaces a template by one node's credentials.
        """
        for field in URL_FIELDS:
            template = self._url_templates.get(field)
            if field in updates and template is not None:
                filled = urls.render_field(field, template)
                if filled.complete and updates[field] == filled.url:
                    updates[field] = template
        return updates

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

    def _refuse_unfilled(self) -> None:
        """:raises CellURLTemplateError: a template loaded with this
        mapping could not be filled (so ``target()`` refuses at once)."""
        for field, rendering in self._unfilled.items():
            raise urls.template_error(field, rendering, self.identity)

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
                return _FilledCell(self)
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
    @db_api.api_connection_reader
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
    @db_api.api_writer
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
        if self.obj_attr_is_set('id'):
            raise exception.ObjectActionError(
                action='create a cell mapping', reason='it already exists '
                '(id %s)' % self.id)
        if not self.obj_attr_is_set('uuid'):
            self.uuid = uuidutils.generate_uuid()
        missing = [f for f in _REQUIRED_ON_CREATE
                   if not self.obj_attr_is_set(f)]
        if missing:
            raise exception.ObjectActionError(
                action='create cell mapping %s' % self.uuid,
                reason='missing field(s) %s' % ', '.join(missing))
        db_row = self._create_in_db(self._context, self._urls_for_write(
            self.obj_get_changes()))
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @db_api.api_writer
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
    @db_api.api_writer
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


class _FilledCell:
    """A cell mapping's view with its URL templates filled, for targeting
    a mapping that was built in memory or received rather than loaded."""

    def __init__(self, cell_mapping: CellMapping):
        self.uuid = cell_mapping.uuid
        self.identity = cell_mapping.identity
        for field in URL_FIELDS:
            setattr(self, field, urls.fill(
                field, getattr(cell_mapping, field),
                cell=cell_mapping.identity))


@base.NovaCellsObjectRegistry.register
class CellMappingList(ovo_base.ObjectListBase, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added get_by_disabled()
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('CellMapping'),
    }

    @staticmethod
    @db_api.api_connection_reader
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
    @db_api.api_connection_reader
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
