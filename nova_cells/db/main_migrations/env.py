"""alembic environment of a cell's main database (see
nova_cells.db.migration); run once per cell."""

from alembic import context

from nova_cells.db import migration
from nova_cells.db.sqlalchemy import models

migration.run_environment(context, models.MainBase.metadata)
