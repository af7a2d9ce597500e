"""``map_instances`` rate: instances mapped per second (prints JSON).

Workload (the issue's): SQLite files, an API database and one cell
database holding 100,000 instances, none mapped. Measured: the wall time of
one complete :func:`nova_cells.cells_admin.instances.map_instances` run
(batches of the default size, each batch's mappings and resume point in
one API transaction), and for comparison a second run over the same cell,
which maps nothing and only checks. Goal: at least 20,000 instances mapped
per second.

Usage: ``python -m benchmarks.bench_map_instances [--instances N]
[--batch-size N]``; ``run()`` returns the figures as a dict.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid as uuid_lib
import warnings

import sqlalchemy as sa

INSTANCES = 100000
GOAL_PER_SECOND = 20000


def _populate_cell(url: str, count: int) -> None:
    from nova_cells.db.sqlalchemy import models

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        models.MainBase.metadata.create_all(engine)
        rows = [{'uuid': str(uuid_lib.uuid4()), 'project_id': 'project%d' % (
                 index % 50), 'user_id': 'user%d' % (index % 200),
                 'deleted': 0, 'vm_state': 'active'}
                for index in range(count)]
        with engine.begin() as connection:
            connection.execute(sa.insert(models.Instance.__table__), rows)
    finally:
        engine.dispose()


def _configure(directory: str, cell_url: str):
    from nova_cells import connections
    from nova_cells.conf import CONF
    from nova_cells.db.sqlalchemy import api_models

    api_url = 'sqlite:///' + os.path.join(directory, 'api.sqlite')
    engine = sa.create_engine(api_url, poolclass=sa.pool.NullPool)
    api_models.ApiBase.metadata.create_all(engine)
    engine.dispose()
    CONF([], project='nova_cells', default_config_files=[])
    CONF.set_override('state_path', directory)
    CONF.set_override('connection', api_url, group='api_database')
    CONF.set_override('connection', cell_url, group='database')
    registry = connections.get_registry()
    registry.configure(CONF)
    return registry


def _timed_run(ctxt, cell_uuid: str, batch_size: int):
    from nova_cells.cells_admin import instances

    started = time.perf_counter()
    result = instances.map_instances(ctxt, cell_uuid, batch_size=batch_size)
    return result, time.perf_counter() - started


def run(instance_count: int = INSTANCES,
        batch_size: int | None = None) -> dict:
    """Build the workload, map it twice, and return the figures."""
    warnings.simplefilter('ignore')
    from nova_cells import context
    from nova_cells.cells_admin import cells
    from nova_cells.cells_admin import instances

    batch_size = batch_size or instances.DEFAULT_BATCH_SIZE
    directory = tempfile.mkdtemp(prefix='nova_cells_bench_map_')
    try:
        cell_url = 'sqlite:///' + os.path.join(directory, 'cell1.sqlite')
        _populate_cell(cell_url, instance_count)
        registry = _configure(directory, cell_url)
        try:
            ctxt = context.get_admin_context()
            cell = cells.create_cell(ctxt, name='cell1',
                                     transport_url='none:///',
                                     database_connection=cell_url)
            first, first_seconds = _timed_run(ctxt, cell.uuid, batch_size)
            second, second_seconds = _timed_run(ctxt, cell.uuid, batch_size)
        finally:
            registry.dispose_all()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    rate = first.mapped / first_seconds
    return {
        'benchmark': 'bench_map_instances',
        'workload': {'backend': 'sqlite files', 'cells': 1,
                     'instances': instance_count, 'batch_size': batch_size},
        'figures': {
            'map_all': {'mapped': first.mapped,
                        'seconds': round(first_seconds, 3),
                        'instances_per_second': round(rate)},
            'rerun_nothing_to_map': {
                'examined': second.examined, 'mapped': second.mapped,
                'seconds': round(second_seconds, 3),
                'instances_per_second': round(
                    second.examined / second_seconds)},
        },
        'goals': {'at_least_20000_per_second': rate >= GOAL_PER_SECOND},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--instances', type=int, default=INSTANCES)
    parser.add_argument('--batch-size', type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.instances, args.batch_size), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
