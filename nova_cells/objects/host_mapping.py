"""HostMapping: which cell a compute host belongs to.

A host is in exactly one cell: the ``host`` column is unique, so mapping a
host twice raises :class:`~nova_cells.exception.HostMappingExists` and
leaves the first mapping as it was. Queries load the cell in the same
statement, as for instance mappings. Remotable methods carry no annotations
so that their fingerprints stay identical to Nova's.
"""

from typing import Any

import sqlalchemy as sa
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields

from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import routing
from nova_cells.objects import base
from nova_cells.objects import cell_mapping as cell_mapping_obj
from nova_cells.objects import rows_with_cell

__all__ = [
    'HostMapping',
    'HostMappingList',
    'TABLE',
]

TABLE = api_models.HostMapping.__table__
_ROWS = rows_with_cell.RowsWithCell(TABLE, cell_optional=False)
_BY_HOST = _ROWS.statement.where(TABLE.c.host == sa.bindparam('host'))
_HOST_OF = sa.select(TABLE.c.host)
#: The columns a cached mapping keeps besides its host and cell.
_CACHED_FIELDS = ('id', 'created_at', 'updated_at')
_CACHED_ATTRIBUTES = tuple('_obj_' + name for name in _CACHED_FIELDS)


def _host_before_write(session: Any, where: Any) -> str | None:
    return session.execute(_HOST_OF.where(where).with_for_update()
                           ).scalar()


@base.NovaCellsObjectRegistry.register
class HostMapping(base.TimestampedObject, base.NovaCellsObject):
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'id': fields.IntegerField(read_only=True),
        'host': fields.StringField(),
        'cell_mapping': fields.ObjectField('CellMapping'),
    }

    @staticmethod
    def _from_db_object(context: Any, host_mapping: 'HostMapping',
                        db_row: Any) -> 'HostMapping':
        for name in host_mapping.fields:
            value = db_row[name]
            if name == 'cell_mapping':
                value = cell_mapping_obj.CellMapping._from_db_object(
                    context, cell_mapping_obj.CellMapping(), value)
            setattr(host_mapping, name, value)
        host_mapping.obj_reset_changes()
        host_mapping._context = context
        return host_mapping

    @staticmethod
    @routing.api_connection_reader
    def _get_by_host_from_db(context: Any, host: str) -> dict:
        return _ROWS.first(
            context.connection, _BY_HOST, {'host': host},
            lambda: exception.HostMappingNotFound(name=host))

    @classmethod
    @ovo_base.remotable
    def get_by_host(cls, context, host):
        """The host's mapping with its cell, in one query.

        :raises HostMappingNotFound: the host is not mapped.
        """
        cached = mapping_cache.CACHE.get_host(context, host)
        if cached is not None:
            values, cell = cached
            return base.from_cached(cls, context, _CACHED_ATTRIBUTES, values,
                                    _obj_host=host, _obj_cell_mapping=cell)
        epoch = mapping_cache.CACHE.load_token(context)
        db_row = cls._get_by_host_from_db(context, host)
        mapping = cls._from_db_object(context, cls(), db_row)
        mapping_cache.CACHE.put_host(
            host, mapping.cell_mapping,
            tuple(getattr(mapping, name) for name in _CACHED_FIELDS), epoch)
        return mapping

    @staticmethod
    @routing.api_writer
    def _create_in_db(context: Any, updates: dict) -> dict:
        return _ROWS.insert(
            context.session, updates,
            duplicate=lambda: exception.HostMappingExists(
                name=updates['host']))

    @ovo_base.remotable
    def create(self):
        """Map the host to its cell.

        :raises HostMappingExists: the host is mapped already (the existing
            mapping is left untouched).
        :raises ObjectActionError: no host, or no created cell mapping.
        """
        base.refuse_created(self, 'create a host mapping')
        base.require_fields(self, 'create a host mapping',
                            ('host', 'cell_mapping'))
        updates = base.changes_for_write(self, 'map host %s' % self.host)
        db_row = self._create_in_db(self._context, updates)
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _save_in_db(context: Any, where: Any, label: str,
                    updates: dict) -> dict:
        before = _host_before_write(context.session, where)
        row = _ROWS.update(
            context.session, where, updates,
            duplicate=lambda: exception.HostMappingExists(
                name=updates.get('host')),
            not_found=lambda: exception.HostMappingNotFound(name=label))
        if updates:
            # A host always has a cell, so any cache may hold it.
            mapping_cache.CACHE.announce(context.session,
                                         hosts={before, row['host']})
        return row

    @ovo_base.remotable
    def save(self):
        """Write the changed fields (moving a host: set ``cell_mapping``).

        :raises HostMappingNotFound: the mapping was deleted meanwhile.
        :raises HostMappingExists: renamed to a host mapped already.
        """
        updates = base.changes_for_write(
            self, 'save host mapping %s' % base.label(self, 'host'))
        db_row = self._save_in_db(self._context, *self._row(), updates)
        self._from_db_object(self._context, self, db_row)

    @staticmethod
    @routing.api_writer
    def _destroy_in_db(context: Any, where: Any, label: str) -> None:
        before = _host_before_write(context.session, where)
        result = context.session.execute(sa.delete(TABLE).where(where))
        if result.rowcount == 0:
            raise exception.HostMappingNotFound(name=label)
        mapping_cache.CACHE.announce(context.session, hosts=[before])

    @ovo_base.remotable
    def destroy(self):
        """:raises HostMappingNotFound: already gone."""
        self._destroy_in_db(self._context, *self._row())

    def _row(self) -> tuple:
        """The WHERE clause finding this mapping's row, and its label."""
        return (base.row_filter(self, TABLE, 'host', 'a host mapping'),
                base.label(self, 'host'))


@base.NovaCellsObjectRegistry.register
class HostMappingList(ovo_base.ObjectListBase, base.NovaCellsObject):
    # Version 1.0: Initial version
    # Version 1.1: Added get_all()
    VERSION = '1.1'

    fields = {
        'objects': fields.ListOfObjectsField('HostMapping'),
    }

    @staticmethod
    @routing.api_connection_reader
    def _get_from_db(context: Any, cell_id: int | None = None
                     ) -> list[dict]:
        if cell_id is None:
            return _ROWS.select(context.connection)
        return _ROWS.select(context.connection, TABLE.c.cell_id == cell_id)

    @classmethod
    @ovo_base.remotable
    def get_by_cell_id(cls, context, cell_id):
        """The hosts mapped to the cell with database id ``cell_id``."""
        return base.make_list(context, cls(), HostMapping,
                                      cls._get_from_db(context, cell_id))

    @classmethod
    @ovo_base.remotable
    def get_all(cls, context):
        """Every host mapping, ordered by id."""
        return base.make_list(context, cls(), HostMapping,
                                      cls._get_from_db(context))
