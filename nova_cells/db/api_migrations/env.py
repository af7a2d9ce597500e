"""alembic environment of the API database (see nova_cells.db.migration)."""

from alembic import context

from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api_models

migration.run_environment(context, api_models.ApiBase.metadata)
