"""Builders shared by the cells_admin tests: cells, hosts, instances."""

import sqlalchemy as sa
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nova_cells.cells_admin import cells as cells_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models


def create_cell(ctxt, url: str, name: str = 'cell1',
                transport_url: str = 'none:///'):
    return cells_admin.create_cell(ctxt, name=name,
                                   transport_url=transport_url,
                                   database_connection=url)


def add_compute_nodes(cctxt, *hosts: str) -> None:
    for host in hosts:
        db_api.compute_node_create(cctxt, {'host': host,
                                           'hypervisor_hostname': host})


def add_instances(url: str, count: int, project_id: str = 'project',
                  **values) -> list[str]:
    """Bulk-insert ``count`` instances straight into a cell database."""
    now = timeutils.utcnow()
    rows = [dict({'uuid': uuidutils.generate_uuid(), 'project_id': project_id,
                  'user_id': 'user', 'created_at': now, 'deleted': 0},
                 **values) for _ in range(count)]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(models.Instance.__table__), rows)
    finally:
        engine.dispose()
    return [row['uuid'] for row in rows]


def api_count(ctxt, model, **where) -> int:
    statement = sa.select(sa.func.count()).select_from(model).where(
        *[getattr(model, name) == value for name, value in where.items()])
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        return s.execute(statement).scalar_one()


def mapped_uuids(ctxt) -> list[str]:
    table = api_models.InstanceMapping.__table__
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        return list(s.execute(sa.select(table.c.instance_uuid)).scalars())
