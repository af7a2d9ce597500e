"""How routing behaves as the number of cells grows (prints JSON).

Two questions an operator adding cells asks:

* ``show_instance``: does the "show instance" path get slower with more
  cells? The path is ``InstanceMapping.get_by_instance_uuid`` ->
  ``im.target(ctxt)`` -> ``db.api.instance_get_by_uuid``, timed for
  deployments of 2, 20 and 200 cells (each its own API database holding
  that many cell mappings and the instance mappings; every cell a SQLite
  file with a few instances). Every cell is warmed once (it has a facade
  and a pooled connection), then the path is timed on instances picked at
  random across all the cells: median and p99 in microseconds. Routing
  is a dictionary lookup per call, so the figures should be flat;
  ``ratios`` gives 200 cells over 2. The passes run 2, 20, 200, 200, 20,
  2 and pool their samples, so a drift of the machine during the run
  does not read as a trend.
* ``idle_cell_memory``: what does a mapped but idle cell cost the process
  once it has been used? In a fresh child process (so earlier work does
  not hide allocations in freed memory), cells are targeted and queried
  once each, 100 and then 200 of them, and the process is measured
  before and after: Python-level bytes (``tracemalloc``), resident set
  (``VmRSS``, less tracemalloc's own bookkeeping) and open file
  descriptors. Then every cell's facade is disposed
  (``ConnectionRegistry.dispose_database``) and the same figures say how
  much came back; ``rss_after_malloc_trim`` shows how much of the rest
  the C allocator was only keeping for reuse.

* ``connection_budget``: ``[cell_database] max_total_connections`` at
  scale, 1,000 SQLite cells and 200 PostgreSQL cells read from 8 threads,
  budget 64 against none; see :mod:`scale_budget` for the workloads and
  their goals.

Goals: ``show_instance`` median at 200 cells within 1.5x of 2 cells; the
facades' disposal gives back at least 90 % of the Python-level bytes the
cells held.

Usage: ``.venv/bin/python benchmarks/bench_scale.py [--iterations N]``;
``run()`` returns the figures as a dict. Bounded: the scaling and memory
parts well under 120 s on a 2-core machine, ``connection_budget`` a few
minutes more (``BUDGET_CHILD_TIMEOUT``).
"""

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid as uuid_lib
import warnings

import sqlalchemy as sa

try:
    from benchmarks import scale_budget
except ImportError:  # run as a script: its own directory is on sys.path
    import scale_budget

CELL_COUNTS = (2, 20, 200)
INSTANCES_PER_CELL = 10
DEFAULT_ITERATIONS = 3000
WARMUP = 200
MEMORY_STEPS = (100, 200)
MEMORY_CHILD_TIMEOUT = 100
BUDGET_CHILD_TIMEOUT = 900
GOAL_FLAT_RATIO = 1.5
GOAL_RELEASED_FRACTION = 0.9
LAYOUT_FILE = 'layout.json'


# -- workload ---------------------------------------------------------------

def _sqlite_url(directory: str, name: str) -> str:
    return 'sqlite:///' + os.path.join(directory, name + '.sqlite')


def _create_schema(url: str, metadata: sa.MetaData) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _new_cell_database(directory: str, name: str, template: str,
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


def _new_api_database(url: str, cells: list[dict]) -> None:
    from nova_cells.db.sqlalchemy import api_models

    _create_schema(url, api_models.ApiBase.metadata)
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


def _build(directory: str) -> dict:
    """Every database of the workload; returns (and saves) its layout."""
    from nova_cells.db.sqlalchemy import models

    template = os.path.join(directory, 'template.sqlite')
    _create_schema('sqlite:///' + template, models.MainBase.metadata)
    cells = []
    for index in range(max(CELL_COUNTS + MEMORY_STEPS)):
        url, uuids = _new_cell_database(directory, 'cell%d' % index,
                                        template, INSTANCES_PER_CELL)
        cells.append({'uuid': str(uuid_lib.uuid4()), 'url': url,
                      'instances': uuids})
    warmup_url, warmup_uuids = _new_cell_database(directory, 'warmup',
                                                  template, 1)
    api_urls = {}
    for count in sorted(set(CELL_COUNTS + MEMORY_STEPS[-1:])):
        api_urls[count] = _sqlite_url(directory, 'api%d' % count)
        _new_api_database(api_urls[count], cells[:count])
    main_url = _sqlite_url(directory, 'main')
    _create_schema(main_url, models.MainBase.metadata)
    layout = {'directory': directory, 'cells': cells,
              'api_urls': {str(k): v for k, v in api_urls.items()},
              'main_url': main_url,
              'warmup': {'uuid': str(uuid_lib.uuid4()), 'url': warmup_url,
                         'instances': warmup_uuids}}
    with open(os.path.join(directory, LAYOUT_FILE), 'w') as stream:
        json.dump(layout, stream)
    return layout


def _configure(directory: str, api_url: str, main_url: str):
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


# -- show instance against the number of cells ------------------------------

def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _show_instance(ctxt, uuid: str):
    from nova_cells import objects
    from nova_cells.db.sqlalchemy import api as db_api

    mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
    with mapping.target(ctxt) as cell_context:
        return db_api.instance_get_by_uuid(cell_context, uuid)


def _show_pass(layout: dict, count: int, iterations: int,
               rng: random.Random) -> tuple[list[float], int]:
    """Samples (us) of the show path over ``count`` warmed cells, and the
    number of cell facades the registry held meanwhile."""
    from nova_cells import context

    registry = _configure(layout['directory'],
                          layout['api_urls'][str(count)], layout['main_url'])
    cells = layout['cells'][:count]
    ctxt = context.get_admin_context()
    try:
        for cell in cells:
            _show_instance(ctxt, cell['instances'][0])
        everything = [uuid for cell in cells for uuid in cell['instances']]
        for uuid in rng.choices(everything, k=WARMUP):
            _show_instance(ctxt, uuid)
        picks = rng.choices(everything, k=iterations)
        clock = time.perf_counter_ns
        samples = []
        for uuid in picks:
            start = clock()
            _show_instance(ctxt, uuid)
            samples.append((clock() - start) / 1000.0)
        return samples, registry.facade_count()
    finally:
        registry.dispose_all()


def _show_instance_scaling(layout: dict, iterations: int) -> dict:
    rng = random.Random(42)
    samples: dict[int, list[float]] = {count: [] for count in CELL_COUNTS}
    facades = {}
    half = max(1, iterations // 2)
    for count in CELL_COUNTS + tuple(reversed(CELL_COUNTS)):
        pass_samples, facades[count] = _show_pass(layout, count, half, rng)
        samples[count] += pass_samples
    return {'cells_%d' % count: {
        'median_us': round(statistics.median(samples[count]), 1),
        'p99_us': round(_percentile(samples[count], 0.99), 1),
        'iterations': len(samples[count]),
        'cell_facades_held': facades[count]} for count in CELL_COUNTS}


# -- memory held per idle cell (runs in a child process) ---------------------

def _vm_rss_bytes() -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


def _malloc_trim() -> bool:
    """Ask glibc to hand freed heap memory back to the system."""
    name = ctypes.util.find_library('c')
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0))
    except (OSError, AttributeError):
        return False


def _process_memory() -> dict:
    gc.collect()
    traced, _peak = tracemalloc.get_traced_memory()
    # tracemalloc's own tables grow with every traced block; they are in
    # the RSS but are no part of what a production process would hold.
    rss = _vm_rss_bytes() - tracemalloc.get_tracemalloc_memory()
    return {'traced_bytes': traced, 'rss_bytes': rss,
            'open_fds': len(os.listdir('/proc/self/fd'))}


def _warm(ctxt, cell) -> str:
    """Target ``cell`` and read one instance; return its database key."""
    from nova_cells.db.sqlalchemy import api as db_api

    with cell.target(ctxt) as cell_context:
        db_api.instance_count(cell_context)
        return cell_context.db_connection


def _memory_child(directory: str) -> dict:
    from nova_cells import context
    from nova_cells import objects

    with open(os.path.join(directory, LAYOUT_FILE)) as stream:
        layout = json.load(stream)
    tracemalloc.start()
    registry = _configure(directory,
                          layout['api_urls'][str(MEMORY_STEPS[-1])],
                          layout['main_url'])
    ctxt = context.get_admin_context()
    # Loaded before the baseline: the mappings are API data a service
    # holds however many cells it has talked to.
    cells = list(objects.CellMappingList.get_all(ctxt))
    by_uuid = {cell.uuid: cell for cell in cells}
    ordered = [by_uuid[cell['uuid']] for cell in layout['cells']]
    # One throwaway cell, used and disposed twice, so imports, mapper
    # configuration and other once-per-process costs are in the baseline.
    warmup = objects.CellMapping(ctxt, uuid=layout['warmup']['uuid'],
                                 database_connection=layout['warmup']['url'],
                                 transport_url='none:///')
    for _ in range(2):
        registry.dispose_database(_warm(ctxt, warmup))
    measured = {0: _process_memory()}
    keys = []
    warmed = 0
    for step in MEMORY_STEPS:
        keys += [_warm(ctxt, cell) for cell in ordered[warmed:step]]
        warmed = step
        measured[step] = _process_memory()
    held = registry.facade_count()
    for key in keys:
        registry.dispose_database(key)
    after = _process_memory()
    after['rss_after_malloc_trim'] = (
        _vm_rss_bytes() - tracemalloc.get_tracemalloc_memory()
        if _malloc_trim() else None)
    registry.dispose_all()
    tracemalloc.stop()
    return {'measured': {str(k): v for k, v in measured.items()},
            'after_dispose': after, 'cell_facades_held': held,
            'cells': warmed}


def _memory_summary(raw: dict) -> dict:
    measured = {int(k): v for k, v in raw['measured'].items()}
    cells = raw['cells']
    base, full, after = measured[0], measured[cells], raw['after_dispose']

    def per_cell(kind: str, low: int, high: int) -> int:
        return round((measured[high][kind] - measured[low][kind]) /
                     (high - low))

    held = {kind: full[kind] - base[kind]
            for kind in ('traced_bytes', 'rss_bytes', 'open_fds')}
    released = {kind: full[kind] - after[kind]
                for kind in ('traced_bytes', 'rss_bytes', 'open_fds')}
    steps = sorted(measured)
    summary = {
        'cells': cells,
        'cell_facades_held': raw['cell_facades_held'],
        'per_cell_traced_kib': round(held['traced_bytes'] / cells / 1024, 1),
        'per_cell_rss_kib': round(held['rss_bytes'] / cells / 1024, 1),
        'per_cell_open_fds': round(held['open_fds'] / cells, 2),
        'per_cell_traced_kib_by_step': {
            '%d_to_%d' % (low, high): round(
                per_cell('traced_bytes', low, high) / 1024, 1)
            for low, high in zip(steps, steps[1:], strict=False)},
        'held_by_all_cells': {
            'traced_mib': round(held['traced_bytes'] / 2 ** 20, 2),
            'rss_mib': round(held['rss_bytes'] / 2 ** 20, 2),
            'open_fds': held['open_fds']},
        'released_by_dispose': {
            'traced_mib': round(released['traced_bytes'] / 2 ** 20, 2),
            'traced_fraction': round(
                released['traced_bytes'] / held['traced_bytes'], 3)
            if held['traced_bytes'] > 0 else None,
            'rss_mib': round(released['rss_bytes'] / 2 ** 20, 2),
            'open_fds': released['open_fds']},
        'process': {
            'baseline_rss_mib': round(base['rss_bytes'] / 2 ** 20, 1),
            'warmed_rss_mib': round(full['rss_bytes'] / 2 ** 20, 1),
            'after_dispose_rss_mib': round(after['rss_bytes'] / 2 ** 20, 1),
        },
    }
    trimmed = after.get('rss_after_malloc_trim')
    if trimmed is not None:
        summary['process']['rss_after_malloc_trim_mib'] = round(
            trimmed / 2 ** 20, 1)
    return summary


def _connection_budget() -> dict:
    """The connection budget workloads (:mod:`scale_budget`), in a child
    process of their own, with a scratch directory of their own."""
    directory = tempfile.mkdtemp(prefix='nova_cells_bench_budget_')
    try:
        completed = subprocess.run(
            [sys.executable, os.path.abspath(__file__), '--budget-child',
             directory], capture_output=True, text=True,
            timeout=BUDGET_CHILD_TIMEOUT, check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ['(no output)']
        return {'failed': lines[-1]}
    return json.loads(completed.stdout)


def _idle_cell_memory(directory: str) -> dict:
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--memory-child',
         directory], capture_output=True, text=True,
        timeout=MEMORY_CHILD_TIMEOUT, check=False)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ['(no output)']
        raise RuntimeError('memory measurement failed: %s' % lines[-1])
    return _memory_summary(json.loads(completed.stdout))


# -- the benchmark ------------------------------------------------------------

def run(iterations: int = DEFAULT_ITERATIONS) -> dict:
    """Build the workload, measure, and return the figures."""
    warnings.simplefilter('ignore')
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix='nova_cells_bench_scale_')
    try:
        layout = _build(directory)
        build_seconds = time.monotonic() - started
        memory = _idle_cell_memory(directory)
        show = _show_instance_scaling(layout, iterations)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    budget = _connection_budget()
    low, high = show['cells_%d' % CELL_COUNTS[0]], show[
        'cells_%d' % CELL_COUNTS[-1]]
    ratios = {
        'show_median_%d_over_%d' % (CELL_COUNTS[-1], CELL_COUNTS[0]): round(
            high['median_us'] / low['median_us'], 2),
        'show_p99_%d_over_%d' % (CELL_COUNTS[-1], CELL_COUNTS[0]): round(
            high['p99_us'] / low['p99_us'], 2),
    }
    released = memory['released_by_dispose']['traced_fraction']
    return {
        'benchmark': 'bench_scale',
        'workload': {'backend': 'sqlite files',
                     'cell_counts': list(CELL_COUNTS),
                     'instances_per_cell': INSTANCES_PER_CELL,
                     'iterations': iterations,
                     'idle_memory_cells': MEMORY_STEPS[-1]},
        'show_instance': show,
        'ratios': ratios,
        'idle_cell_memory': memory,
        'connection_budget': budget,
        'goals': {
            'show_instance_flat_within_1_5x':
                ratios['show_median_%d_over_%d' % (
                    CELL_COUNTS[-1], CELL_COUNTS[0])] <= GOAL_FLAT_RATIO,
            'dispose_releases_90pct_of_traced':
                released is not None and released >= GOAL_RELEASED_FRACTION,
        },
        'build_seconds': round(build_seconds, 1),
        'seconds': round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int,
                        default=DEFAULT_ITERATIONS)
    parser.add_argument('--memory-child', metavar='DIRECTORY',
                        help=argparse.SUPPRESS)
    parser.add_argument('--budget-child', metavar='DIRECTORY',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore')
    if args.memory_child:
        print(json.dumps(_memory_child(args.memory_child)))
        return 0
    if args.budget_child:
        print(json.dumps(scale_budget.run(args.budget_child)))
        return 0
    print(json.dumps(run(args.iterations), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
