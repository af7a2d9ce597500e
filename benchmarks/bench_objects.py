"""Mapping-object lookups against the raw SQLAlchemy floor (prints JSON).

Workload (Nova's issue benchmark): SQLite files, an API database and 4 cell
databases with 2,000 instances each, and one instance mapping per instance.
Measured, each as median and p99 in microseconds:

* ``cell_mapping_get_by_uuid``: ``CellMapping.get_by_uuid``;
* ``instance_mapping_get_by_instance_uuid``: the mapping with its cell;
* ``show_instance``: ``InstanceMapping.get_by_instance_uuid`` ->
  ``im.target(ctxt)`` -> ``db.api.instance_get_by_uuid``;
* the raw floor beside them: the same primary/unique-key selects in
  SQLAlchemy Core on plain pooled engines over the same files
  (``raw_show_instance`` runs the mapping select then the instance select).

Goals: ``show_instance`` within 3x ``raw_show_instance``;
``cell_mapping_get_by_uuid`` under 150 us median.

``servers`` repeats the workload on PostgreSQL and MariaDB when they are
reachable (throwaway databases, fewer iterations). On PostgreSQL the show
path is compared with Nova 34's in the same workload as issue 19 measured
it (about 14 ms: quoted, not measured here): goal at least 15x faster.
The mapping cache is not in this path yet: the show path reads the API
database and then the cell's, one round trip each.

Usage: ``python -m benchmarks.bench_objects [--iterations N]
[--profile]``; ``run()`` returns the figures as a dict. Bounded well under
60 s on a 2-core machine.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid as uuid_lib
import warnings

import sqlalchemy as sa

try:
    from benchmarks import server_databases
except ImportError:  # run as a script: its own directory is on sys.path
    import server_databases

CELLS = 4
INSTANCES_PER_CELL = 2000
DEFAULT_ITERATIONS = 3000
WARMUP = 200
GOAL_SHOW_RATIO = 3.0
GOAL_CELL_GET_MEDIAN_US = 150.0
DATABASE_NAMES = ['api', 'main'] + ['cell%d' % index for index in range(CELLS)]
SERVER_ITERATIONS = 1000
# Nova 34's show path on PostgreSQL in the same workload, from issue 19:
# this project's 2.1 ms there was 6.7x faster, so Nova took about 14 ms.
# Not measured here (no Nova in this environment); quoted for the ratio.
NOVA34_SHOW_PATH_POSTGRESQL_US = 2100 * 6.7
GOAL_FASTER_THAN_NOVA34 = 15.0


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _measure(function, arguments: list, iterations: int) -> dict:
    for argument in arguments[:WARMUP]:
        function(argument)
    samples = []
    clock = time.perf_counter_ns
    for index in range(iterations):
        argument = arguments[index % len(arguments)]
        start = clock()
        function(argument)
        samples.append((clock() - start) / 1000.0)
    return {'median_us': round(statistics.median(samples), 1),
            'p99_us': round(_percentile(samples, 0.99), 1),
            'iterations': iterations}


def _sqlite_urls(directory: str) -> dict:
    return {name: 'sqlite:///' + os.path.join(directory, name + '.sqlite')
            for name in DATABASE_NAMES}


def _populate(urls: dict) -> dict:
    """Create the API, local main and cell databases at ``urls`` (by name,
    see :data:`DATABASE_NAMES`); return their URLs and the ids to look
    up."""
    from nova_cells.db.sqlalchemy import api_models
    from nova_cells.db.sqlalchemy import models
    from nova_cells.db.sqlalchemy import schema

    url = urls.__getitem__
    api_url, main_url = url('api'), url('main')
    schema.create_tables(api_url, 'api')
    schema.create_tables(main_url, 'main')
    cells = []
    mappings = []
    for index in range(CELLS):
        cell_url = url('cell%d' % index)
        schema.create_tables(cell_url, 'main')
        cell = {'id': index + 1, 'uuid': str(uuid_lib.uuid4()),
                'name': 'cell%d' % index, 'database_connection': cell_url,
                'transport_url': 'none:///', 'disabled': False}
        cells.append(cell)
        instances = [{'uuid': str(uuid_lib.uuid4()), 'project_id': 'bench',
                      'user_id': 'bench', 'deleted': 0}
                     for _ in range(INSTANCES_PER_CELL)]
        engine = sa.create_engine(cell_url)
        with engine.begin() as connection:
            connection.execute(sa.insert(models.Instance), instances)
        engine.dispose()
        mappings += [{'instance_uuid': row['uuid'], 'cell_id': cell['id'],
                      'project_id': 'bench', 'user_id': 'bench',
                      'queued_for_delete': False} for row in instances]
    engine = sa.create_engine(api_url)
    with engine.begin() as connection:
        connection.execute(sa.insert(api_models.CellMapping), cells)
        connection.execute(sa.insert(api_models.InstanceMapping), mappings)
    engine.dispose()
    return {'api_url': api_url, 'main_url': main_url, 'cells': cells,
            'instance_uuids': [m['instance_uuid'] for m in mappings]}


def _raw_floor(data: dict, cell_uuids: list, instance_uuids: list,
               iterations: int) -> dict:
    from nova_cells.db.sqlalchemy import api_models
    from nova_cells.db.sqlalchemy import models

    api_engine = sa.create_engine(data['api_url'])
    cell_engines = {cell['id']: sa.create_engine(cell['database_connection'])
                    for cell in data['cells']}
    cells_table = api_models.CellMapping.__table__
    mappings_table = api_models.InstanceMapping.__table__
    instances_table = models.Instance.__table__
    cell_by_uuid = sa.select(cells_table).where(
        cells_table.c.uuid == sa.bindparam('uuid'))
    mapping_by_uuid = sa.select(mappings_table, cells_table).select_from(
        mappings_table.outerjoin(cells_table)).where(
        mappings_table.c.instance_uuid == sa.bindparam('uuid'))
    instance_by_uuid = sa.select(instances_table).where(
        instances_table.c.uuid == sa.bindparam('uuid'))

    def cell_get(uuid):
        with api_engine.connect() as connection:
            return connection.execute(cell_by_uuid, {'uuid': uuid}).one()

    def mapping_get(uuid):
        with api_engine.connect() as connection:
            return connection.execute(mapping_by_uuid, {'uuid': uuid}).one()

    def show(uuid):
        row = mapping_get(uuid)
        with cell_engines[row.cell_id].connect() as connection:
            return connection.execute(instance_by_uuid,
                                      {'uuid': uuid}).one()

    try:
        return {
            'raw_cell_select': _measure(cell_get, cell_uuids, iterations),
            'raw_mapping_select': _measure(mapping_get, instance_uuids,
                                           iterations),
            'raw_show_instance': _measure(show, instance_uuids, iterations),
        }
    finally:
        api_engine.dispose()
        for engine in cell_engines.values():
            engine.dispose()


def _configure(data: dict, directory: str):
    from nova_cells import connections
    from nova_cells.conf import CONF

    CONF([], project='nova_cells', default_config_files=[])
    # The API database path; bench_mapping_cache measures the cache.
    CONF.set_override('mapping_cache', False, group='cells')
    CONF.set_override('state_path', directory)
    CONF.set_override('connection', data['api_url'], group='api_database')
    CONF.set_override('connection', data['main_url'], group='database')
    connections.get_registry().configure(CONF)
    return connections.get_registry()


def _routed(cell_uuids: list, instance_uuids: list, iterations: int,
            profile: bool) -> tuple[dict, str | None]:
    from nova_cells import context
    from nova_cells import objects
    from nova_cells.db.sqlalchemy import api as db_api

    ctxt = context.get_admin_context()

    def cell_get(uuid):
        return objects.CellMapping.get_by_uuid(ctxt, uuid)

    def mapping_get(uuid):
        return objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)

    def show(uuid):
        mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
        with mapping.target(ctxt) as cell_context:
            return db_api.instance_get_by_uuid(cell_context, uuid)

    figures = {
        'cell_mapping_get_by_uuid': _measure(cell_get, cell_uuids,
                                             iterations),
        'instance_mapping_get_by_instance_uuid': _measure(
            mapping_get, instance_uuids, iterations),
        'show_instance': _measure(show, instance_uuids, iterations),
    }
    report = None
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for uuid in instance_uuids[:1000]:
            show(uuid)
        for uuid in (cell_uuids * 250)[:1000]:
            cell_get(uuid)
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(
            'cumulative').print_stats(40)
        report = stream.getvalue()
    return figures, report


def _measure_on(urls: dict, directory: str, iterations: int,
                profile: bool) -> tuple[dict, str | None]:
    """The routed figures and their raw floor on the databases at
    ``urls``."""
    data = _populate(urls)
    registry = _configure(data, directory)
    randomizer = random.Random(42)
    instance_uuids = randomizer.sample(data['instance_uuids'],
                                       min(iterations,
                                           len(data['instance_uuids'])))
    cell_uuids = [cell['uuid'] for cell in data['cells']]
    try:
        figures, report = _routed(cell_uuids, instance_uuids,
                                  iterations, profile)
    finally:
        registry.dispose_all()
    figures.update(_raw_floor(data, cell_uuids, instance_uuids,
                              iterations))
    return figures, report


def _ratios(figures: dict) -> dict:
    def ratio(routed, raw):
        return round(figures[routed]['median_us'] /
                     figures[raw]['median_us'], 2)

    return {
        'show_instance_vs_raw': ratio('show_instance', 'raw_show_instance'),
        'cell_mapping_get_vs_raw': ratio('cell_mapping_get_by_uuid',
                                         'raw_cell_select'),
        'instance_mapping_get_vs_raw': ratio(
            'instance_mapping_get_by_instance_uuid', 'raw_mapping_select'),
    }


def _servers(directory: str) -> dict:
    """The same workload on each reachable server (fewer iterations)."""
    results = {}
    for kind, reason in server_databases.reachable().items():
        if reason is not None:
            results[kind] = {'skipped': reason}
            continue
        with server_databases.databases(kind, DATABASE_NAMES) as urls:
            figures, _report = _measure_on(urls, directory,
                                           SERVER_ITERATIONS, False)
        results[kind] = {'figures': figures, 'ratios': _ratios(figures)}
    postgresql = results.get('postgresql', {}).get('figures')
    if postgresql:
        faster = (NOVA34_SHOW_PATH_POSTGRESQL_US /
                  postgresql['show_instance']['median_us'])
        results['postgresql']['vs_nova34'] = {
            'nova34_show_path_us_quoted_from_issue_19': round(
                NOVA34_SHOW_PATH_POSTGRESQL_US),
            'times_faster': round(faster, 1),
            'goal_times_faster_at_least': GOAL_FASTER_THAN_NOVA34,
            'goal_met': faster >= GOAL_FASTER_THAN_NOVA34,
        }
    return results


def run(iterations: int = DEFAULT_ITERATIONS, profile: bool = False) -> dict:
    """Build the workload, measure, and return the figures."""
    warnings.simplefilter('ignore')
    directory = tempfile.mkdtemp(prefix='nova_cells_bench_objects_')
    started = time.monotonic()
    try:
        figures, report = _measure_on(_sqlite_urls(directory), directory,
                                      iterations, profile)
        servers = _servers(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    ratios = _ratios(figures)
    result = {
        'benchmark': 'bench_objects',
        'workload': {'backend': 'sqlite files', 'cells': CELLS,
                     'instances_per_cell': INSTANCES_PER_CELL,
                     'iterations': iterations},
        'figures': figures,
        'ratios': ratios,
        'goals': {
            'show_instance_within_3x_raw':
                ratios['show_instance_vs_raw'] <= GOAL_SHOW_RATIO,
            'cell_mapping_get_under_150us':
                figures['cell_mapping_get_by_uuid']['median_us'] <
                GOAL_CELL_GET_MEDIAN_US,
        },
        'servers': servers,
        'seconds': round(time.monotonic() - started, 1),
    }
    if report is not None:
        result['profile'] = report
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int,
                        default=DEFAULT_ITERATIONS)
    parser.add_argument('--profile', action='store_true',
                        help='add a cProfile report of the routed paths')
    args = parser.parse_args(argv)
    result = run(args.iterations, args.profile)
    report = result.pop('profile', None)
    print(json.dumps(result, indent=2))
    if report:
        print(report, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
