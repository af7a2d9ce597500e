"""Dead and hung cells: what they cost everyone else (prints JSON).

Measured, with ``[cell_database] connect_timeout`` = 0.5 s and ``[cells]
failure_threshold`` = 3:

* ``routed_reads``: 8 threads read instances by uuid from cells picked at
  random among 10, 400 reads each. Run twice in the same process: with 10
  healthy SQLite cells (the floor), then with 2 of the 10 refusing
  connections and 1 accepting them and never answering (PyMySQL URLs on
  127.0.0.1 ports this benchmark opens). Reported: median and p99 ms of
  the reads of healthy cells in each run and their ratio (goal: p99 within
  1.2x of the all-healthy run);
* ``first_call_into_dead_cell_ms``: per sick cell, the call into it that
  started first, timed in its reader thread while the other 7 keep
  reading: targeting, building the cell's facade and engine, one
  connection attempt (refused, or no greeting within the connect timeout)
  and the ``CellUnavailable``. The slowest of the three (goal: at most
  connect timeout + 100 ms); ``first_call_by_cell_ms`` gives each.
  Not in it: ``mysql_driver_load_once_ms``, what a process pays once at
  its first connection to any MySQL database, dead or healthy (importing
  PyMySQL and its dialect, building the TLS context PyMySQL connections
  share, see ``nova_cells/db/mysql_tls.py``). It is paid before the timed
  run by ``cell_engine.load_driver`` (as a service may at start-up) and
  reported on its own; a process that skips that pays it on top of its
  first MySQL call;
* ``calls_before_marked_down``: calls that still tried the network,
  having started before their cell reached the failure threshold;
* ``calls_while_down``: median and p99 ms of calls into a cell marked down
  (goal: p99 at most 1 ms);
* ``check_cells_s``: ``check_cells`` over 50 cells of which 5 hang, with
  a 2 s timeout and no connect timeout, so only check_cells' own timeout
  ends the wait (goal: at most timeout + 1 s).

Usage: ``python benchmarks/bench_down_cells.py``; ``run()`` returns the
figures as a dict. About 30 s on a loaded 2-core machine.
"""

import argparse
import dataclasses
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

try:
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import timing

CELLS = 10
THREADS = 8
READS_PER_THREAD = 400
INSTANCES_PER_CELL = 50
CONNECT_TIMEOUT = 0.5
CHECK_CELLS = 50
CHECK_HUNG = 5
CHECK_TIMEOUT = 2.0


@dataclasses.dataclass
class _Cell:
    uuid: str
    database_connection: str
    transport_url: str = 'none:///'
    instances: tuple = ()


def _summary(samples: list[float]) -> dict:
    return dict(timing.summary(samples), count=len(samples))


def _configure(directory: str) -> None:
    from nova_cells import config
    from nova_cells import connections
    from nova_cells.conf import CONF

    config.parse_args(['bench_down_cells'], default_config_files=[],
                      configure_logging=False)
    CONF.set_override('state_path', directory)
    CONF.set_override('connect_timeout', CONNECT_TIMEOUT,
                      group='cell_database')
    CONF.set_override('failure_threshold', 3, group='cells')
    CONF.set_override('down_cell_retry_interval', 600, group='cells')
    connections.get_registry().configure(CONF)


def _healthy_cell(directory: str, name: str) -> _Cell:
    import sqlalchemy as sa

    from nova_cells.db.sqlalchemy import models
    from nova_cells.db.sqlalchemy import schema

    url = 'sqlite:///' + os.path.join(directory, name + '.sqlite')
    schema.create_tables(url, 'main')
    uuids = tuple(str(uuid_lib.uuid4()) for _ in range(INSTANCES_PER_CELL))
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(models.Instance.__table__.insert(), [
            {'uuid': uuid, 'host': 'h', 'deleted': 0} for uuid in uuids])
    engine.dispose()
    return _Cell(name, url, instances=uuids)


def _mysql_url(port: int) -> str:
    return 'mysql+pymysql://nova:secret@127.0.0.1:%d/nova' % port


def _read_from_cells(root, cells: list, healthy: set) -> tuple:
    """8 threads of routed reads; (healthy ms, sick calls as (cell uuid,
    monotonic start, ms))."""
    from nova_cells import context
    from nova_cells import exception
    from nova_cells.db.sqlalchemy import api as db_api

    lock = threading.Lock()
    healthy_ms, sick_calls = [], []
    barrier = threading.Barrier(THREADS)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(READS_PER_THREAD):
            cell = rng.choice(cells)
            started_at = time.monotonic()
            start = time.perf_counter()
            try:
                with context.target_cell(root, cell) as cctxt:
                    db_api.instance_get_by_uuid(
                        cctxt, rng.choice(cell.instances))
                failed = False
            except exception.CellUnavailable as error:
                # Refused at the gate (marked down) or failed trying.
                failed = 'refused' if 'times in a row' in str(error) else (
                    'tried')
            elapsed = (time.perf_counter() - start) * 1000.0
            with lock:
                if cell.uuid in healthy:
                    assert not failed, cell.uuid
                    healthy_ms.append(elapsed)
                else:
                    assert failed, cell.uuid
                    sick_calls.append((cell.uuid, started_at, elapsed,
                                       failed))

    threads = [threading.Thread(target=reader, args=(seed,))
               for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return healthy_ms, sick_calls


def _bench_reads(root, directory: str) -> dict:
    from nova_cells import cell_health
    from nova_cells.db import cell_engine
    from nova_cells.testing import sick_servers

    cells = [_healthy_cell(directory, 'cell%d' % index)
             for index in range(CELLS)]
    all_healthy, _ = _read_from_cells(
        root, cells, {cell.uuid for cell in cells})

    # What a process pays once, at its first connection to any MySQL
    # database (dead or not): importing dialect and driver, and PyMySQL's
    # TLS context. Paid here, outside the per-call timings, and reported.
    start = time.perf_counter()
    cell_engine.load_driver(_mysql_url(1))
    driver_load_ms = round((time.perf_counter() - start) * 1000.0, 3)
    refused = [sick_servers.RefusedPort() for _ in range(2)]
    hung = sick_servers.SilentListener()
    for server in refused + [hung]:
        server.start()
    try:
        sick = [_Cell('refused%d' % index, _mysql_url(server.port),
                      instances=('x',))
                for index, server in enumerate(refused)]
        sick.append(_Cell('hung', _mysql_url(hung.port), instances=('x',)))
        mixed = cells[:CELLS - len(sick)] + sick
        cell_health.BREAKERS.reset()
        healthy_ms, sick_calls = _read_from_cells(
            root, mixed, {cell.uuid for cell in cells})
        sick_uuids = [cell.uuid for cell in sick]
    finally:
        for server in refused + [hung]:
            server.stop()
    floor = _summary(all_healthy)
    with_sick = _summary(healthy_ms)
    # Per sick cell: its first call (connects and fails), the other calls
    # that tried the network (started before it was marked down), and those
    # refused at once because it was down.
    first_ms, before_ms, down_ms = [], [], []
    first_by_cell = {}
    for uuid in sick_uuids:
        calls = sorted((started, ms, how) for cell_uuid, started, ms, how
                       in sick_calls if cell_uuid == uuid)
        first_ms.append(calls[0][1])
        first_by_cell[uuid] = round(calls[0][1], 3)
        for _started, ms, how in calls[1:]:
            (down_ms if how == 'refused' else before_ms).append(ms)
    down = _summary(down_ms)
    first = round(max(first_ms), 3)
    ratio = round(with_sick['p99_ms'] / floor['p99_ms'], 3)
    return {
        'routed_reads': {'all_healthy_floor': floor,
                         'healthy_cells_with_3_sick': with_sick,
                         'p99_ratio': ratio},
        'first_call_into_dead_cell_ms': first,
        'first_call_goal_ms': CONNECT_TIMEOUT * 1000 + 100,
        'first_call_by_cell_ms': first_by_cell,
        'mysql_driver_load_once_ms': driver_load_ms,
        'calls_before_marked_down': len(before_ms),
        'calls_while_down': down,
        'goals': {
            'healthy_p99_within_1.2x': ratio <= 1.2,
            'first_call_within_connect_timeout_plus_100ms':
                first <= CONNECT_TIMEOUT * 1000 + 100,
            'calls_while_down_p99_within_1ms': down['p99_ms'] <= 1.0,
        },
    }


def _bench_check_cells(root, directory: str) -> dict:
    from nova_cells.cells_admin import health_check
    from nova_cells.conf import CONF
    from nova_cells.db.sqlalchemy import schema
    from nova_cells.objects import cell_mapping
    from nova_cells.testing import sick_servers

    schema.create_tables(CONF.api_database.connection, 'api')
    listeners = [sick_servers.SilentListener() for _ in range(CHECK_HUNG)]
    for listener in listeners:
        listener.start()
    try:
        for index in range(CHECK_CELLS):
            if index < CHECK_HUNG:
                url = _mysql_url(listeners[index].port)
            else:
                url = 'sqlite:///' + os.path.join(
                    directory, 'check%d.sqlite' % index)
                schema.create_tables(url, 'main')
            cell_mapping.CellMapping(
                root, uuid=str(uuid_lib.uuid4()), name='c%d' % index,
                database_connection=url, transport_url='fake://').create()
        CONF.set_override('connect_timeout', 0, group='cell_database')
        start = time.perf_counter()
        results = health_check.check_cells(root, timeout=CHECK_TIMEOUT)
        elapsed = round(time.perf_counter() - start, 3)
        hung = sum(1 for health in results if health.database == 'no answer')
    finally:
        CONF.set_override('connect_timeout', CONNECT_TIMEOUT,
                          group='cell_database')
        for listener in listeners:
            listener.stop()
    assert hung == CHECK_HUNG, hung
    return {'check_cells_s': elapsed,
            'check_cells_goal_s': CHECK_TIMEOUT + 1.0,
            'goals': {'check_cells_within_timeout_plus_1s':
                      elapsed <= CHECK_TIMEOUT + 1.0}}


def run() -> dict:
    from nova_cells import connections
    from nova_cells import context

    directory = tempfile.mkdtemp(prefix='bench_down_cells_')
    started = time.perf_counter()
    try:
        _configure(directory)
        root = context.get_admin_context()
        results = _bench_reads(root, directory)
        check = _bench_check_cells(root, directory)
        results['goals'].update(check.pop('goals'))
        results.update(check)
    finally:
        connections.get_registry().dispose_all()
        shutil.rmtree(directory, ignore_errors=True)
    results['workload'] = {
        'backend': 'sqlite (file) healthy cells; PyMySQL to a refused '
                   'port / a silent listener on 127.0.0.1 for sick ones',
        'cells': CELLS, 'threads': THREADS,
        'reads_per_thread': READS_PER_THREAD,
        'connect_timeout_s': CONNECT_TIMEOUT, 'failure_threshold': 3,
        'check_cells': CHECK_CELLS, 'check_cells_hung': CHECK_HUNG,
        'check_cells_timeout_s': CHECK_TIMEOUT}
    results['total_s'] = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    warnings.simplefilter('ignore')
    print(json.dumps(run(), indent=2, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
