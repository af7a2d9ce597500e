"""Memory of the connection budget at scale, measured in a fresh child
process (helper of :mod:`scale_budget`, not a benchmark).

A process of its own, so no earlier workload's freed memory counts: RSS
of the whole process after touching every SQLite cell under the budget,
with no idle timeout (every cell keeps its engine), and the file
descriptors left on the evicted cells' files; then, traced by
tracemalloc, the Python heap per cell evicted at the cap (engine kept,
connections closed) and per cell whose engine the idle timeout dropped.

Run as ``python scale_budget_memory.py DIRECTORY API_URL`` (by
:func:`in_child`) on the cells ``scale_budget`` saved in DIRECTORY.
"""

import gc
import json
import os
import subprocess
import sys
import tracemalloc

from nova_cells.testing import open_files

try:
    from benchmarks import scale_budget_cells
except ImportError:  # run as a script: its own directory is on sys.path
    import scale_budget_cells

MEMORY_CELLS = 200
MEMORY_CHILD_TIMEOUT = 200
GOAL_RSS_MIB = 150


def _rss_mib() -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _cell_files_open(cells: list[dict]) -> int:
    """This process's file descriptors on the files of ``cells`` (their
    -wal and -shm files included)."""
    return open_files.count_open(tuple(cell['path'] for cell in cells))


def measure(directory: str, api_url: str, cells: list[dict]) -> dict:
    """RSS after touching every cell under the budget (engines kept),
    then the Python heap per cell evicted at the cap and per cell whose
    engine was dropped. Run in a fresh process (see :func:`in_child`)."""
    from nova_cells import context

    registry = scale_budget_cells.configure(
        directory, api_url, scale_budget_cells.BUDGET)
    ctxt = context.get_admin_context()
    # Imports, mapper configuration and the API facade in the baseline.
    for cell in cells[:2]:
        scale_budget_cells.show(ctxt, cell)
    registry.evict_idle_cells()
    gc.collect()
    baseline = _rss_mib()
    for cell in cells:
        scale_budget_cells.show(ctxt, cell)
    gc.collect()
    rss = _rss_mib()
    stats = registry.connection_stats()
    engines = registry.facade_count()
    # The budget names a cell "uuid(name)".
    holding = {label.partition('(')[0] for label in stats['cells']}
    evicted = [cell for cell in cells if cell['uuid'] not in holding]
    files_open_evicted = _cell_files_open(evicted)
    registry.evict_idle_cells()
    gc.collect()
    rss_dropped = _rss_mib()
    files_open_dropped = _cell_files_open(cells)
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    for cell in cells[:MEMORY_CELLS]:
        scale_budget_cells.show(ctxt, cell)
    gc.collect()
    kept = (tracemalloc.get_traced_memory()[0] - traced_before)
    registry.evict_idle_cells()
    gc.collect()
    dropped = (tracemalloc.get_traced_memory()[0] - traced_before)
    tracemalloc.stop()
    registry.dispose_all()
    return {'cells_touched': len(cells),
            'baseline_rss_mib': baseline,
            'rss_mib_after_touching_all': rss,
            'rss_goal_mib_at_most': GOAL_RSS_MIB,
            'rss_goal_met': rss <= GOAL_RSS_MIB,
            'engines_held_after_touching_all': engines,
            'open_connections_after_touching_all': stats['total_open'],
            'evicted_cells': len(evicted),
            'files_open_on_evicted_cells': files_open_evicted,
            'rss_mib_after_dropping_every_engine': rss_dropped,
            'files_open_after_dropping_every_engine': files_open_dropped,
            'per_evicted_cell_heap_bytes_engine_kept': round(
                kept / MEMORY_CELLS),
            'per_dropped_cell_heap_bytes': round(dropped / MEMORY_CELLS),
            'heap_cells': MEMORY_CELLS}


def in_child(directory: str, api_url: str) -> dict:
    """:func:`measure` in a fresh process (this file run as a script);
    ``{'failed': last line of its error}`` when it fails."""
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), directory, api_url],
        capture_output=True, text=True, timeout=MEMORY_CHILD_TIMEOUT,
        check=False)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ['(no output)']
        return {'failed': lines[-1]}
    return json.loads(completed.stdout)


def main(argv: list[str]) -> int:
    """``DIRECTORY API_URL``: :func:`measure` on the cells saved in
    DIRECTORY (``cells.json``), JSON on stdout."""
    import warnings

    warnings.simplefilter('ignore')
    directory, api_url = argv
    with open(os.path.join(directory, 'cells.json')) as stream:
        cells = json.load(stream)
    print(json.dumps(measure(directory, api_url, cells)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
