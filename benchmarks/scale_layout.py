"""The databases ``bench_scale`` measures, and how a service is pointed at
them (helper, not a benchmark).

Kept apart from the measurements because two processes and two
benchmarks need them: ``bench_scale``'s idle-memory child
(:mod:`scale_idle_memory`) reopens the layout :func:`build` saved, and
``bench_mapping_cache`` builds its deployments from the same pieces.
Every cell is a copy of one empty SQLite main schema holding a few
instances; each deployment size has its own API database mapping the
first that many cells.
"""

import json
import os
import shutil
import uuid as uuid_lib

import sqlalchemy as sa

CELL_COUNTS = (2, 20, 200)
INSTANCES_PER_CELL = 10
MEMORY_STEPS = (100, 200)
LAYOUT_FILE = 'layout.json'


def sqlite_url(directory: str, name: str) -> str:
    return 'sqlite:///' + os.path.join(directory, name + '.sqlite')


def create_schema(url: str, metadata: sa.MetaData) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def new_cell_database(directory: str, name: str, template: str,
                       count: int) -> tuple[str, list[str]]:
    """A copy of the empty main schema holding ``count`` instances."""
    from nova_cells.db.sqlalchemy import models

    path = os.path.join(directory, name + '.sqlite')
    shutil.copyfile(template, path)
    url = 'sqlite:///' + path
    uuids = [str(uuid_lib.uuid4()) for _ in range(count)]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(models.Instance), [
                {'uuid': uuid, 'project_id': 'bench', 'user_id': 'bench',
                 'vm_state': 'active', 'deleted': 0} for uuid in uuids])
    finally:
        engine.dispose()
    return url, uuids


def new_api_database(url: str, cells: list[dict]) -> None:
    from nova_cells.db.sqlalchemy import api_models

    create_schema(url, api_models.ApiBase.metadata)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(api_models.CellMapping), [
                {'id': index + 1, 'uuid': cell['uuid'],
                 'name': 'cell%d' % index, 'transport_url': 'none:///',
                 'database_connection': cell['url'], 'disabled': False}
                for index, cell in enumerate(cells)])
            connection.execute(sa.insert(api_models.InstanceMapping), [
                {'instance_uuid': uuid, 'cell_id': index + 1,
                 'project_id': 'bench', 'user_id': 'bench',
                 'queued_for_delete': False}
                for index, cell in enumerate(cells)
                for uuid in cell['instances']])
    finally:
        engine.dispose()


def build(directory: str) -> dict:
    """Every database of the workload; returns (and saves) its layout."""
    from nova_cells.db.sqlalchemy import models

    template = os.path.join(directory, 'template.sqlite')
    create_schema('sqlite:///' + template, models.MainBase.metadata)
    cells = []
    for index in range(max(CELL_COUNTS + MEMORY_STEPS)):
        url, uuids = new_cell_database(directory, 'cell%d' % index,
                                        template, INSTANCES_PER_CELL)
        cells.append({'uuid': str(uuid_lib.uuid4()), 'url': url,
                      'instances': uuids})
    warmup_url, warmup_uuids = new_cell_database(directory, 'warmup',
                                                  template, 1)
    api_urls = {}
    for count in sorted(set(CELL_COUNTS + MEMORY_STEPS[-1:])):
        api_urls[count] = sqlite_url(directory, 'api%d' % count)
        new_api_database(api_urls[count], cells[:count])
    main_url = sqlite_url(directory, 'main')
    create_schema(main_url, models.MainBase.metadata)
    layout = {'directory': directory, 'cells': cells,
              'api_urls': {str(k): v for k, v in api_urls.items()},
              'main_url': main_url,
              'warmup': {'uuid': str(uuid_lib.uuid4()), 'url': warmup_url,
                         'instances': warmup_uuids}}
    with open(os.path.join(directory, LAYOUT_FILE), 'w') as stream:
        json.dump(layout, stream)
    return layout


def configure(directory: str, api_url: str, main_url: str):
    """Point ``CONF`` and the connection registry at the workload, as a
    service's configuration file would (no test fixtures involved)."""
    from nova_cells import connections
    from nova_cells.conf import CONF

    CONF([], project='nova_cells', default_config_files=[])
    # The API database path; bench_mapping_cache measures the cache.
    CONF.set_override('mapping_cache', False, group='cells')
    CONF.set_override('state_path', directory)
    CONF.set_override('connection', api_url, group='api_database')
    CONF.set_override('connection', main_url, group='database')
    registry = connections.get_registry()
    registry.configure(CONF)
    return registry

