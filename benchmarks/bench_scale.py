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

Where the parts live: the databases and configuration in
:mod:`scale_layout` (shared with ``bench_mapping_cache``), the
idle-memory child in :mod:`scale_idle_memory`, the connection budget in
:mod:`scale_budget`; this module times the show path and runs the
children.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

try:
    from benchmarks import scale_budget
    from benchmarks import scale_idle_memory
    from benchmarks import scale_layout
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import scale_budget
    import scale_idle_memory
    import scale_layout
    import timing

CELL_COUNTS = scale_layout.CELL_COUNTS
INSTANCES_PER_CELL = scale_layout.INSTANCES_PER_CELL
DEFAULT_ITERATIONS = 3000
WARMUP = 200
MEMORY_STEPS = scale_layout.MEMORY_STEPS
MEMORY_CHILD_TIMEOUT = 100
BUDGET_CHILD_TIMEOUT = 900
GOAL_FLAT_RATIO = 1.5
GOAL_RELEASED_FRACTION = 0.9


# -- show instance against the number of cells ------------------------------

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

    registry = scale_layout.configure(
        layout['directory'], layout['api_urls'][str(count)],
        layout['main_url'])
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
    return {'cells_%d' % count: dict(
        timing.summary(samples[count], 'us', 1),
        iterations=len(samples[count]),
        cell_facades_held=facades[count]) for count in CELL_COUNTS}


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
    return scale_idle_memory.summary(json.loads(completed.stdout))


# -- the benchmark ------------------------------------------------------------

def run(iterations: int = DEFAULT_ITERATIONS) -> dict:
    """Build the workload, measure, and return the figures."""
    warnings.simplefilter('ignore')
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix='nova_cells_bench_scale_')
    try:
        layout = scale_layout.build(directory)
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
        print(json.dumps(scale_idle_memory.child(args.memory_child)))
        return 0
    if args.budget_child:
        print(json.dumps(scale_budget.run(args.budget_child)))
        return 0
    print(json.dumps(run(args.iterations), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
