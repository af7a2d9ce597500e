"""The cells the connection budget workloads read (:mod:`scale_budget`),
and how a service is pointed at them (helper, not a benchmark).

Shared by the workloads and by the memory child
(:mod:`scale_budget_memory`), which runs in a process of its own and must
build the same configuration without the workloads' code. Every cell
holds one instance whose ``host`` names the cell, so a read routed to the
wrong cell is seen (:func:`show` returns False).
"""

import os
import shutil
import sqlite3
import uuid as uuid_lib

import sqlalchemy as sa

#: ``[cell_database] max_total_connections`` of the budgeted runs.
BUDGET = 64


def instance_row(uuid: str, host: str) -> dict:
    return {'uuid': uuid, 'host': host, 'project_id': 'bench',
            'user_id': 'bench', 'vm_state': 'active', 'deleted': 0}


def api_database(url: str, cells: list[dict]) -> None:
    from nova_cells.db.sqlalchemy import api_models
    from nova_cells.db.sqlalchemy import schema

    schema.create_tables(url, 'api')
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.insert(api_models.CellMapping), [
            {'id': index + 1, 'uuid': cell['uuid'], 'name': cell['name'],
             'transport_url': 'none:///', 'database_connection': cell['url'],
             'disabled': False} for index, cell in enumerate(cells)])
        connection.execute(sa.insert(api_models.InstanceMapping), [
            {'instance_uuid': cell['instance'], 'cell_id': index + 1,
             'project_id': 'bench', 'user_id': 'bench',
             'queued_for_delete': False}
            for index, cell in enumerate(cells)])
    engine.dispose()


def sqlite_cells(directory: str, count: int) -> list[dict]:
    from nova_cells.db.sqlalchemy import schema

    template = os.path.join(directory, 'template.sqlite')
    schema.create_tables('sqlite:///' + template, 'main')
    insert = ('INSERT INTO instances (uuid, host, project_id, user_id, '
              'vm_state, deleted) VALUES (?, ?, ?, ?, ?, ?)')
    cells = []
    for index in range(count):
        path = os.path.join(directory, 'cell%d.sqlite' % index)
        shutil.copyfile(template, path)
        cell = {'uuid': str(uuid_lib.uuid4()), 'name': 'cell%d' % index,
                'url': 'sqlite:///' + path, 'path': path,
                'instance': str(uuid_lib.uuid4())}
        connection = sqlite3.connect(path)
        connection.execute('PRAGMA journal_mode = WAL')
        with connection:
            connection.execute(insert, tuple(
                instance_row(cell['instance'], cell['name']).values()))
        connection.close()
        cells.append(cell)
    return cells


def postgresql_cells(urls: list[str], count: int) -> list[dict]:
    from nova_cells.db.sqlalchemy import models
    from nova_cells.db.sqlalchemy import schema

    cells = [{'uuid': str(uuid_lib.uuid4()), 'name': 'cell%d' % index,
              'instance': str(uuid_lib.uuid4()),
              'url': sa.engine.make_url(urls[index % len(urls)])
              .update_query_dict({'application_name': 'bcell%d' % index})
              .render_as_string(hide_password=False)}
             for index in range(count)]
    for offset, url in enumerate(urls):
        schema.create_tables(url, 'main')
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            connection.execute(sa.insert(models.Instance), [
                instance_row(cell['instance'], cell['name'])
                for cell in cells[offset::len(urls)]])
        engine.dispose()
    return cells


def configure(directory: str, api_url: str, budget: int):
    from nova_cells import connections
    from nova_cells.conf import CONF

    CONF([], project='nova_cells', default_config_files=[])
    CONF.set_override('state_path', directory)
    CONF.set_override('connection', api_url, group='api_database')
    CONF.set_override('connection', 'sqlite:///' + os.path.join(
        directory, 'main.sqlite'), group='database')
    CONF.set_override('max_total_connections', budget,
                      group='cell_database')
    CONF.set_override('idle_timeout', 0, group='cell_database')
    registry = connections.get_registry()
    registry.configure(CONF)
    return registry


def show(ctxt, cell: dict) -> bool:
    from nova_cells import objects
    from nova_cells.db.sqlalchemy import api as db_api

    mapping = objects.InstanceMapping.get_by_instance_uuid(
        ctxt, cell['instance'])
    with mapping.target(ctxt) as cell_context:
        row = db_api.instance_get_by_uuid(cell_context, cell['instance'])
    return row.host == cell['name']

