"""The API database's mapping generation: read it, bump it.

Every process caching mappings (:mod:`nova_cells.mapping_cache`) reads the
generation at most once per check interval; a write that can make a cached
mapping wrong bumps it inside its own transaction, so the bump is visible
exactly when the change is. One row (``id`` 1), created by migration
``api_0004``; a database whose schema was created from the models (tests,
benchmarks) gets it on its first bump.
"""

from typing import Any

import sqlalchemy as sa

from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models

__all__ = [
    'ROW_ID',
    'TABLE',
    'bump',
    'read',
]

TABLE = api_models.MappingCacheGeneration.__table__
ROW_ID = 1
_READ = sa.select(TABLE.c.generation).where(TABLE.c.id == ROW_ID)
_BUMP = sa.update(TABLE).where(TABLE.c.id == ROW_ID).values(
    generation=TABLE.c.generation + 1)


@db_api.api_connection_reader
def read(context: Any) -> int:
    """The current generation (0 before the first bump)."""
    value = context.connection.execute(_READ).scalar()
    return 0 if value is None else value


def bump(session: Any) -> int:
    """Add one to the generation inside ``session``'s transaction and
    return the new value.

    The row lock this takes is held until that transaction ends, so keep
    bumping transactions short (every caller here is one small write).
    """
    if session.execute(_BUMP).rowcount == 0:
        session.execute(sa.insert(TABLE).values(id=ROW_ID, generation=1))
    return session.execute(_READ).scalar_one()
