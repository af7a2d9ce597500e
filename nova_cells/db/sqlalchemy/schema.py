"""Build the API or main tables straight from the models, without
migrations: for benchmarks and tests that need a populated database fast.

A deployment never uses this: its schema comes from ``nova-cells-manage
api_db|db sync`` (:mod:`nova_cells.db.migration`), which also records the
revision. It lives in the package, not the test fixtures, so that
``benchmarks/`` needs nothing but the package itself.
"""

import sqlalchemy as sa

from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models

__all__ = [
    'METADATA',
    'create_tables',
]

METADATA = {'api': api_models.ApiBase.metadata,
            'main': models.MainBase.metadata}


def create_tables(url: str, database: str) -> None:
    """Create the ``'api'`` or ``'main'`` tables in the database at
    ``url`` (existing ones are left as they are)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        METADATA[database].create_all(engine)
    finally:
        engine.dispose()
