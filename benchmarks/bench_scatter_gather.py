"""Scatter-gather and merged listing across cells, timed (prints JSON).

Every figure is measured next to its floor in the same run, *interleaved*
(one floor sample, one subject sample, over and over), so a machine
shared with other work slows both alike; ``ratio`` is the subject's
median over the floor's.

* ``count_sqlite``: ``instance_count`` by scatter-gather over 4 and 50
  SQLite file cells (1,000 instances each), against the floor: the same
  ``count`` statement, raw, one cell after another, on connections
  already open. Goal: ratio <= 2.
* ``count_postgresql`` / ``count_mysql``: the same over 4 and 20 cells on
  the local PostgreSQL / MariaDB server (databases created for the run
  and dropped after, through the ``openstack_citest`` credentials). Goal:
  ratio < 1 (parallel fan-out beats the sequential raw queries). Reported
  as skipped, with the reason, when the server is not reachable.
* ``list_first_page``: the first page of 100 instances merged over 10
  SQLite cells of 10,000 instances each, for each sort order listed in
  ``LIST_SORTS``, against the floor: the same page from one SQLite
  database holding all 100,000 rows (``instance_get_all_by_filters``, the
  one-database read). Goal: ratio <= 3. Also the cold first call and a
  second page (marker from another cell).
* ``no_op``: scatter-gather of a function that does nothing but return,
  over 50 and 200 cells, per cell; the goal is that the cost per cell
  does not grow with the number of cells (``per_cell_growth`` <= 1.5).
  Measured for cells on SQLite files (run in a lane) and on servers
  (``sqlite://`` URLs stand in: one pool task per cell).
* ``healthy_50_cells``, ``one_hung_first_call_s``, ``one_hung_later_calls``:
  50 cells, healthy, then with one cell hung and a 1 s timeout (the first
  call waits for the timeout, later calls answer the stuck cell at once).

Defaults: ``[cells] scatter_gather_workers`` = 16. Usage: ``python -m
benchmarks.bench_scatter_gather [--iterations N]``; ``run()`` returns the
figures as a dict. About two minutes on a loaded 2-core machine.
"""

import argparse
import dataclasses
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid as uuid_lib
import warnings

import sqlalchemy as sa

try:
    from benchmarks import server_databases
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import server_databases
    import timing

CELLS = 50
NO_OP_CELLS = (50, 200)
COUNT_SQLITE_CELLS = (4, 50)
COUNT_SERVER_CELLS = (4, 20)
COUNT_INSTANCES_PER_CELL = 1000
LIST_CELLS = 10
INSTANCES_PER_CELL = 10000
PAGE = 100
# (sort keys, sort directions) of the listing benchmark.
LIST_SORTS = {
    'newest_first': (['created_at'], ['desc']),
    'oldest_first': (['created_at'], ['asc']),
    'display_name_asc': (['display_name'], ['asc']),
    'display_name_desc': (['display_name'], ['desc']),
    'uuid_asc': (['uuid'], ['asc']),
}
HUNG_TIMEOUT = 1.0
DEFAULT_ITERATIONS = 30
GOALS = {'count_sqlite': 2.0, 'count_server': 1.0, 'list': 3.0,
         'no_op_growth': 1.5}


@dataclasses.dataclass
class _Cell:
    uuid: str
    database_connection: str
    transport_url: str = 'none:///'
    disabled: bool = False

    def is_cell0(self) -> bool:
        return False


def _goals(results: dict) -> dict[str, bool]:
    """Each goal of the docstring, met or not, by figure."""
    goals = {}
    for backend, goal in (('sqlite', GOALS['count_sqlite']),
                          ('postgresql', GOALS['count_server']),
                          ('mysql', GOALS['count_server'])):
        for name, figures in results['count_' + backend].items():
            if isinstance(figures, dict):
                ratio = figures['ratio']
                met = ratio <= goal if backend == 'sqlite' else ratio < goal
                goals['count_%s_%s' % (backend, name)] = met
    for name, figures in results['list_first_page'].items():
        if isinstance(figures, dict):
            goals['list_' + name] = figures['ratio'] <= GOALS['list']
    for kind in ('sqlite_file', 'server'):
        goals['no_op_%s_per_cell_flat' % kind] = (
            results['no_op']['%s_per_cell_growth' % kind] <=
            GOALS['no_op_growth'])
    return goals


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
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(models.Instance.__table__.insert(), rows)
    engine.dispose()


def _cell_uuid(cctxt):
    return cctxt.cell_uuid


# -- no-op and hung cells ---------------------------------------------------

def _bench_no_op(root, directory: str, iterations: int) -> dict:
    from nova_cells import scatter_gather

    results = {}
    for kind in ('sqlite_file', 'server'):
        per_cell = {}
        for count in NO_OP_CELLS:
            if kind == 'sqlite_file':
                cells = [_Cell(str(uuid_lib.uuid4()), 'sqlite:///' +
                               os.path.join(directory, 'noop%d.sqlite' % i))
                         for i in range(count)]
            else:
                cells = [_Cell(str(uuid_lib.uuid4()), 'sqlite://')
                         for _ in range(count)]
            figures = timing.time_ms(
                lambda cells=cells: scatter_gather.scatter_gather_cells(
                    root, cells, 30, _cell_uuid), iterations)
            figures['per_cell_us'] = round(
                figures['median_ms'] * 1000.0 / count, 2)
            results['%s_%d_cells' % (kind, count)] = figures
            per_cell[count] = figures['per_cell_us']
        small, large = NO_OP_CELLS
        growth = round(per_cell[large] / per_cell[small], 2)
        results['%s_per_cell_growth' % kind] = growth
    return results


def _bench_hung(root, iterations: int) -> dict:
    from nova_cells import scatter_gather

    cells = [_Cell(str(uuid_lib.uuid4()), 'sqlite://') for _ in range(CELLS)]
    results = {'healthy_50_cells': timing.time_ms(
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
        results['one_hung_later_calls'] = timing.time_ms(
            lambda: scatter_gather.scatter_gather_cells(
                root, cells, HUNG_TIMEOUT, hang_in_one), iterations)
    finally:
        released.set()
    return results


# -- count(*) -----------------------------------------------------------

def _count_figures(root, urls: list[str], iterations: int) -> dict:
    """``instance_count`` by scatter-gather over the cells at ``urls``
    against the raw sequential floor."""
    from nova_cells import scatter_gather
    from nova_cells.db.sqlalchemy import api as db_api
    from nova_cells.db.sqlalchemy import models

    table = models.Instance.__table__
    statement = sa.select(sa.func.count(table.c.id)).where(
        table.c.deleted == 0)
    cells = [_Cell(str(uuid_lib.uuid4()), url) for url in urls]
    engines = [sa.create_engine(url, isolation_level='AUTOCOMMIT')
               for url in urls]
    connections = [engine.connect() for engine in engines]
    try:
        def raw_sequential():
            return [connection.execute(statement).scalar_one()
                    for connection in connections]

        def fan_out():
            outcomes = scatter_gather.scatter_gather_cells(
                root, cells, 30, db_api.instance_count)
            assert all(not scatter_gather.is_cell_failure(outcome)
                       for outcome in outcomes.values()), outcomes
            return outcomes

        assert sorted(fan_out().values()) == sorted(raw_sequential())
        return timing.paired_ms(fan_out, raw_sequential, iterations)
    finally:
        for connection in connections:
            connection.close()
        for engine in engines:
            engine.dispose()


def _bench_count_sqlite(root, directory: str, iterations: int) -> dict:
    rng = random.Random(7)
    urls = []
    for index in range(max(COUNT_SQLITE_CELLS)):
        url = 'sqlite:///' + os.path.join(directory, 'count%d.sqlite' % index)
        _populate(url, _rows(COUNT_INSTANCES_PER_CELL, rng))
        urls.append(url)
    return {'%d_cells' % count: _count_figures(
                root, urls[:count], iterations)
            for count in COUNT_SQLITE_CELLS}


def _bench_count_server(root, kind: str, iterations: int) -> dict:
    """The count figures on a server backend, or why they are missing."""
    from nova_cells import connections

    reason = server_databases.reachable()[kind]
    if reason is not None:
        return {'skipped': reason}
    rng = random.Random(11)
    names = ['cell%d' % index for index in range(max(COUNT_SERVER_CELLS))]
    with server_databases.databases(kind, names) as by_name:
        urls = [by_name[name] for name in names]
        for url in urls:
            _populate(url, _rows(COUNT_INSTANCES_PER_CELL, rng))
        try:
            return {'%d_cells' % count: _count_figures(
                        root, urls[:count], iterations)
                    for count in COUNT_SERVER_CELLS}
        finally:
            connections.get_registry().dispose_all()


# -- merged listing -------------------------------------------------------

def _bench_listing(root, directory: str, iterations: int) -> dict:
    from nova_cells import context
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
    results = {'cold_ms': round(cold_ms, 3)}
    with context.target_cell(root, one_database) as cctxt:
        for name, (keys, dirs) in LIST_SORTS.items():
            def merged(keys=keys, dirs=dirs):
                return first_page(sort_keys=keys, sort_dirs=dirs)

            def one_database_page(keys=keys, dirs=dirs):
                return db_api.instance_get_all_by_filters(
                    cctxt, None, keys, dirs, limit=PAGE)

            expected = [row.uuid for row in one_database_page()]
            assert [instance.uuid for _cell, instance
                    in merged().instances] == expected, name
            results[name] = timing.paired_ms(merged, one_database_page,
                                       iterations)
        first = db_api.instance_get_all_by_filters(cctxt, limit=PAGE)
        results['second_page_newest_first'] = timing.paired_ms(
            lambda: first_page(marker=marker),
            lambda: db_api.instance_get_all_by_filters(
                cctxt, limit=PAGE, marker=first[-1].uuid),
            iterations)
    return {'list_first_page': results}


def run(iterations: int = DEFAULT_ITERATIONS) -> dict:
    from nova_cells import connections
    from nova_cells import context
    from nova_cells.conf import CONF

    directory = tempfile.mkdtemp(prefix='bench_scatter_gather_')
    started = time.perf_counter()
    try:
        _configure(directory)
        root = context.get_admin_context()
        results = {'no_op': _bench_no_op(root, directory, iterations)}
        results.update(_bench_hung(root, iterations))
        results['count_sqlite'] = _bench_count_sqlite(root, directory,
                                                      iterations)
        results['count_postgresql'] = _bench_count_server(
            root, 'postgresql', iterations)
        results['count_mysql'] = _bench_count_server(root, 'mysql',
                                                     iterations)
        results.update(_bench_listing(root, directory, iterations))
        workers = CONF.cells.scatter_gather_workers
    finally:
        connections.get_registry().dispose_all()
        shutil.rmtree(directory, ignore_errors=True)
    results['goals'] = _goals(results)
    results['benchmark'] = 'bench_scatter_gather'
    results['workload'] = {
        'backend': 'sqlite (file); count also on PostgreSQL and MariaDB',
        'fan_out_cells': CELLS, 'hung_timeout_s': HUNG_TIMEOUT,
        'count_instances_per_cell': COUNT_INSTANCES_PER_CELL,
        'list_cells': LIST_CELLS, 'instances_per_cell': INSTANCES_PER_CELL,
        'page': PAGE, 'scatter_gather_workers': workers,
        'iterations': iterations}
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
