"""Scatter-gather and merged listing across cells, timed (prints JSON).

Measured:

* ``healthy_50_cells``: a trivial function (returns the cell uuid) over 50
  healthy cells, median and p99 milliseconds per call;
* ``one_hung_first_call_s``: the same with one cell hung forever and a 1 s
  timeout: wall time of the first call (the timeout, plus overhead);
* ``one_hung_later_calls``: calls made while that cell is still stuck,
  median and p99 ms (the stuck cell is answered at once, not waited for);
* ``list_first_page``: the first page of 100 instances, newest first,
  merged over 10 SQLite cells of 10,000 instances each: the cold call
  (engines created on first use) and warm median/p99 ms; also sorted by
  ``display_name`` and a second page (marker from another round trip);
* ``one_database_first_page``: the floor, the same page from one SQLite
  database holding all 100,000 rows.

Defaults: ``[cells] scatter_gather_workers`` = 16. Usage: ``python -m
benchmarks.bench_scatter_gather [--iterations N]``; ``run()`` returns the
figures as a dict. Bounded well under 90 s on a 2-core machine.
"""

import argparse
import dataclasses
import datetime
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid as uuid_lib
import warnings

import sqlalchemy as sa

CELLS = 50
LIST_CELLS = 10
INSTANCES_PER_CELL = 10000
PAGE = 100
HUNG_TIMEOUT = 1.0
DEFAULT_ITERATIONS = 30


@dataclasses.dataclass
class _Cell:
    uuid: str
    database_connection: str
    transport_url: str = 'none:///'
    disabled: bool = False

    def is_cell0(self) -> bool:
        return False


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _time_ms(function, iterations: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    return {'median_ms': round(statistics.median(samples), 3),
            'p99_ms': round(_percentile(samples, 0.99), 3),
            'iterations': iterations}


def _configure(directory: str) -> None:
    from nova_cells import config
    from nova_cells import connections
    from nova_cells.conf import CONF

    config.parse_args(['bench_scatter_gather'], default_config_files=[],
                      configure_logging=False)
    CONF.set_override('state_path', directory)
    connections.get_registry().configure(CONF)


def _rows(count: int, rng: random.Random) -> list[dict]:
    start = datetime.datetime(2024, 1, 1)
    return [{'uuid': str(uuid_lib.UUID(int=rng.getrandbits(128))),
             'display_name': 'vm-%06d' % rng.randrange(1000000),
             'host': 'host%d' % rng.randrange(50),
             'project_id': 'project%d' % rng.randrange(7),
             'created_at': start + datetime.timedelta(
                 seconds=rng.randrange(10 ** 7)),
             'vm_state': 'active', 'deleted': 0}
            for _ in range(count)]


def _populate(url: str, rows: list[dict]) -> None:
    from nova_cells.db.sqlalchemy import models
    from nova_cells.db.sqlalchemy import schema

    schema.create_tables(url, 'main')
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(models.Instance.__table__.insert(), rows)
    engine.dispose()


def _bench_fan_out(root, iterations: int) -> dict:
    from nova_cells import scatter_gather

    cells = [_Cell(str(uuid_lib.uuid4()), 'sqlite://') for _ in range(CELLS)]
    results = {'healthy_50_cells': _time_ms(
        lambda: scatter_gather.scatter_gather_cells(
            root, cells, 30, _cell_uuid), iterations)}

    hung = cells[CELLS // 2].uuid
    released = threading.Event()

    def hang_in_one(cctxt):
        if cctxt.cell_uuid == hung:
            released.wait()
        return cctxt.cell_uuid

    try:
        start = time.perf_counter()
        outcomes = scatter_gather.scatter_gather_cells(
            root, cells, HUNG_TIMEOUT, hang_in_one)
        results['one_hung_first_call_s'] = round(
            time.perf_counter() - start, 3)
        assert outcomes[hung] is scatter_gather.did_not_respond_sentinel
        results['one_hung_later_calls'] = _time_ms(
            lambda: scatter_gather.scatter_gather_cells(
                root, cells, HUNG_TIMEOUT, hang_in_one), iterations)
    finally:
        released.set()
    return results


def _cell_uuid(cctxt):
    return cctxt.cell_uuid


def _bench_listing(root, directory: str, iterations: int) -> dict:
    from nova_cells import instance_list
    from nova_cells.db.sqlalchemy import api as db_api

    rng = random.Random(42)
    cells, everything = [], []
    for index in range(LIST_CELLS):
        url = 'sqlite:///' + os.path.join(directory, 'cell%d.sqlite' % index)
        rows = _rows(INSTANCES_PER_CELL, rng)
        _populate(url, rows)
        everything += rows
        cells.append(_Cell(str(uuid_lib.uuid4()), url))
    one_url = 'sqlite:///' + os.path.join(directory, 'all.sqlite')
    _populate(one_url, everything)
    one_database = _Cell(str(uuid_lib.uuid4()), one_url)

    def first_page(**kwargs):
        return instance_list.instance_get_all_across_cells(
            root, limit=PAGE, cell_mappings=cells, **kwargs)

    start = time.perf_counter()
    page = first_page()
    cold_ms = (time.perf_counter() - start) * 1000.0
    assert len(page.instances) == PAGE and page.complete
    marker = page.next_marker
    results = {'list_first_page': {
        'cold_ms': round(cold_ms, 3),
        'newest_first': _time_ms(first_page, iterations),
        'by_display_name': _time_ms(
            lambda: first_page(sort_keys=['display_name'],
                               sort_dirs=['asc']), iterations),
        'second_page': _time_ms(lambda: first_page(marker=marker),
                                iterations),
    }}

    from nova_cells import context

    with context.target_cell(root, one_database) as cctxt:
        results['one_database_first_page'] = _time_ms(
            lambda: db_api.instance_get_all_by_filters(cctxt, limit=PAGE),
            iterations)
    return results


def run(iterations: int = DEFAULT_ITERATIONS) -> dict:
    from nova_cells import connections
    from nova_cells import context
    from nova_cells.conf import CONF

    directory = tempfile.mkdtemp(prefix='bench_scatter_gather_')
    started = time.perf_counter()
    try:
        _configure(directory)
        root = context.get_admin_context()
        results = _bench_fan_out(root, iterations)
        results.update(_bench_listing(root, directory, iterations))
        workers = CONF.cells.scatter_gather_workers
    finally:
        connections.get_registry().dispose_all()
        shutil.rmtree(directory, ignore_errors=True)
    results['workload'] = {
        'backend': 'sqlite (file)', 'fan_out_cells': CELLS,
        'hung_timeout_s': HUNG_TIMEOUT, 'list_cells': LIST_CELLS,
        'instances_per_cell': INSTANCES_PER_CELL, 'page': PAGE,
        'scatter_gather_workers': workers, 'iterations': iterations}
    results['total_s'] = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int,
                        default=DEFAULT_ITERATIONS)
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore')
    print(json.dumps(run(args.iterations), indent=2, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
