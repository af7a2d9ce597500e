"""What a mapped but idle cell costs a process once used: the
``idle_cell_memory`` part of ``bench_scale`` (helper, not a benchmark).

:func:`child` runs in a fresh process (``bench_scale.py --memory-child
DIRECTORY``), so earlier work does not hide allocations in freed memory:
cells of the layout :func:`scale_layout.build` saved are targeted and
queried once each, in steps, and the process is measured before, after
each step and after every cell's facade is disposed: Python-level bytes
(``tracemalloc``), resident set (``VmRSS``, less tracemalloc's own
bookkeeping) and open file descriptors. :func:`summary` turns those raw
figures into the per-cell ones the benchmark reports.
"""

import ctypes
import ctypes.util
import gc
import json
import os
import tracemalloc

try:
    from benchmarks import scale_layout
except ImportError:  # run as a script: its own directory is on sys.path
    import scale_layout


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


def child(directory: str) -> dict:
    from nova_cells import context
    from nova_cells import objects

    with open(os.path.join(directory, scale_layout.LAYOUT_FILE)) as stream:
        layout = json.load(stream)
    tracemalloc.start()
    registry = scale_layout.configure(directory,
                          layout['api_urls'][str(scale_layout.MEMORY_STEPS[-1])],
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
    for step in scale_layout.MEMORY_STEPS:
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


def summary(raw: dict) -> dict:
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

