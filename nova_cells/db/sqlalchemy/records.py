"""Read-only snapshots of rows, what the hot single-row reads return.

Separate from :mod:`nova_cells.db.sqlalchemy.api` because a merged
listing (:mod:`nova_cells.instance_list`) builds them from rows it read
itself, and because they are plain values with no database behind them.
"""

from typing import Any

from nova_cells.db.sqlalchemy import models

__all__ = [
    'InstanceRecord',
    'Record',
]


class Record:
    """A read-only snapshot of one row, returned by the hot single-row reads.

    It reads as the row's ORM model does: ``record.uuid``,
    ``record['uuid']``, ``record.get('uuid', default)`` and
    ``record.as_dict()``, with the same names and values. It is not a
    mapped object: it belongs to no session, cannot be changed (setting an
    attribute raises ``AttributeError``) and is not an instance of the
    model class. Change a row through the DB API's write functions.

    Building one costs about a microsecond, where constructing a detached
    ORM object costs about 25 (SQLAlchemy instruments its ``__init__``).
    """

    __slots__ = ('_values',)
    #: Name of the model whose rows this class snapshots (for repr).
    model_name = 'row'

    def __init__(self, values: Any) -> None:
        # A Core row's RowMapping, or any mapping of column to value.
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_'):  # no column's; and no recursion on _values
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError('%s record has no attribute %r' % (
                self.model_name, name)) from None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def as_dict(self) -> dict:
        return dict(self._values)

    def __reduce__(self) -> tuple:
        return type(self), (self.as_dict(),)

    def __repr__(self) -> str:
        return '<%s record id=%s>' % (self.model_name,
                                      self._values.get('id'))


class InstanceRecord(Record):
    """An ``instances`` row as
    :func:`~nova_cells.db.sqlalchemy.api.instance_get_by_uuid` returns it."""

    __slots__ = ()
    model_name = models.Instance.__name__
