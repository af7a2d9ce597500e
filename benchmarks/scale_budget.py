"""The connection budget at scale: the ``connection_budget`` part of
``bench_scale`` (issue 14), run by it in a child process of its own.

Workloads, each from ``THREADS`` threads calling the show path
(``InstanceMapping.get_by_instance_uuid`` -> ``im.target()`` ->
``instance_get_by_uuid``) and checking every row came from the cell it
was routed to, once with ``[cell_database] max_total_connections = 64``
and once with no budget (0):

* ``working_set``: 95 % of reads on 50 of the cells, the rest spread over
  all of them;
* ``uniform``: every read on a cell picked at random (the budget's worst
  case: nearly every read needs a connection another cell gives back).

Each workload first reads every cell it will touch once, untimed (its
median is reported as ``first_touch_median_us``): a running service has
an engine for every cell it used within ``idle_timeout``, and the timed
reads measure routing and connections, not engines being built.

Open connections are sampled every 10 ms (the registry's count, and on
PostgreSQL the server's ``pg_stat_activity``; a server process ends a
moment after its client closed the connection, so a server count above
the budget is sampled again for up to ``SERVER_SETTLE_SECONDS`` and both
figures are reported). Floors from the same run:
``two_cells`` (the same threads, 2 cells) for the working set, and
``bare_new_connection`` (the bare driver opens a new connection, runs the
same select and closes it, from the same threads) for uniform reads.

Backends: ``SQLITE_CELLS`` SQLite files, in WAL mode as any nova_cells
process leaves them (so the bare driver opens the same kind of file); on
PostgreSQL (when reachable)
``POSTGRESQL_CELLS`` cells over ``POSTGRESQL_DATABASES`` databases (cell
URLs differ by ``application_name``, so each cell is its own facade and
pool; every cell's instance row names the cell). PostgreSQL's
``max_connections`` (100 here) cannot hold the no-budget run's connection
per cell, so that comparison is reported as not run.

Every workload and floor is run ``ROUNDS`` times, taking turns (all of
them once, then all again): with 8 threads on 2 cores a single run's
median swings by several times from one run to the next (the threads'
turns at the GIL decide it), so each figure is that of its median round,
with every round's median beside it (``round_medians_us``) and the
budget checked in every round.

Memory (RSS after touching every SQLite cell, heap and file descriptors
per evicted cell) is measured in a fresh child process: see
:mod:`scale_budget_memory`. The cells and the service configuration both
use are in :mod:`scale_budget_cells`; the latency summary is
:func:`timing.summary`.
"""

import collections
import functools
import json
import os
import random
import sqlite3
import statistics
import threading
import time

import sqlalchemy as sa

from nova_cells.urls import mask_text

try:
    from benchmarks import scale_budget_cells
    from benchmarks import scale_budget_memory
    from benchmarks import server_databases
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import scale_budget_cells
    import scale_budget_memory
    import server_databases
    import timing

SQLITE_CELLS = 1000
POSTGRESQL_CELLS = 200
POSTGRESQL_DATABASES = 20
THREADS = 8
BUDGET = scale_budget_cells.BUDGET
HOT_CELLS = 50
HOT_FRACTION = 0.95
READS = 2400
SAMPLE_SECONDS = 0.01
SERVER_SETTLE_SECONDS = 2.0
ROUNDS = 3
GOAL_WORKING_SET_OVER_TWO_CELLS = 1.3
GOAL_UNIFORM_OVER_BARE = 1.5
# The routed read's select, for the bare driver (its own parameter style).
_SELECT = ('SELECT * FROM instances WHERE uuid = %(uuid)s AND deleted = 0')


class _Sampler(threading.Thread):
    def __init__(self, count):
        super().__init__(daemon=True)
        self.count = count
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.count())
            self.stop.wait(SAMPLE_SECONDS)


def _settled(count, budget: int, raw: list[int]):
    """``count`` sampled again while above ``budget``, for up to
    ``SERVER_SETTLE_SECONDS``; the first figure of each sample goes to
    ``raw``."""
    def sample():
        value = count()
        raw.append(value)
        deadline = time.monotonic() + SERVER_SETTLE_SECONDS
        while budget and value > budget and time.monotonic() < deadline:
            time.sleep(0.05)
            value = count()
        return value
    return sample


def _from_threads(call, picks: list[list]) -> tuple[list[float], dict]:
    """Run ``call(pick)`` for each thread's picks; latencies (us) and the
    calls that went wrong: ``{'wrong_reads': n, 'errors': {...}}``, a
    call returning something false counting as ``wrong row`` and one
    raising under its exception's name and message (passwords masked)."""
    samples: list[float] = []
    errors: collections.Counter = collections.Counter()
    lock = threading.Lock()
    start_line = threading.Barrier(len(picks))

    def worker(mine):
        local, bad = [], collections.Counter()
        start_line.wait()
        for pick in mine:
            started = time.perf_counter_ns()
            try:
                if not call(pick):
                    bad['wrong row'] += 1
            except Exception as error:  # counted, named, never hidden
                bad['%s: %s' % (type(error).__name__, mask_text(
                    str(error).splitlines()[0][:200]))] += 1
            local.append((time.perf_counter_ns() - started) / 1000.0)
        with lock:
            samples.extend(local)
            errors.update(bad)

    threads = [threading.Thread(target=worker, args=(mine,))
               for mine in picks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, {'wrong_reads': sum(errors.values()),
                     'errors': dict(errors)}


def _picks(cells: list[dict], hot: int | None, seed: int) -> list[list]:
    rng = random.Random(seed)
    per_thread = READS // THREADS

    def one():
        if hot and rng.random() < HOT_FRACTION:
            return cells[rng.randrange(hot)]
        return cells[rng.randrange(len(cells))]

    return [[one() for _ in range(per_thread)] for _ in range(THREADS)]


def _summary(samples: list[float]) -> dict:
    return dict(timing.summary(samples, 'us', 1), reads=len(samples))


def _workload(directory: str, api_url: str, cells: list[dict], budget: int,
              hot: int | None, server_count=None) -> dict:
    from nova_cells import context

    registry = scale_budget_cells.configure(directory, api_url, budget)
    ctxt = context.get_admin_context()
    # Every cell of the workload read once, untimed: a service that has
    # been running has an engine per cell it used within idle_timeout, so
    # what is timed is reads (and, at the budget, connections given back
    # and opened), not each cell's first engine being built, which is
    # reported on its own.
    touched = sorted({cell['uuid']: cell for mine in _picks(
        cells, hot, seed=7) for cell in mine}.values(),
        key=lambda cell: cell['name'])
    first_touch = []
    for cell in touched:
        started = time.perf_counter_ns()
        scale_budget_cells.show(ctxt, cell)
        first_touch.append((time.perf_counter_ns() - started) / 1000.0)
    held = _Sampler(lambda: registry.connection_stats()['total_open'])
    raw: list[int] = []
    on_server = _Sampler(_settled(server_count, budget, raw)) \
        if server_count else None
    for sampler in filter(None, (held, on_server)):
        sampler.start()
    try:
        samples, wrong = _from_threads(
            lambda cell: scale_budget_cells.show(ctxt, cell),
            _picks(cells, hot, seed=7))
    finally:
        for sampler in filter(None, (held, on_server)):
            sampler.stop.set()
            sampler.join()
    stats = registry.connection_stats()
    registry.dispose_all()
    figures = dict(_summary(samples), **wrong,
                   max_open=max(held.samples), samples=len(held.samples),
                   evictions=stats['evictions'],
                   engines_held_at_end=stats['engines'],
                   first_touch_median_us=round(
                       statistics.median(first_touch), 1),
                   cells_touched=len(touched))
    if on_server:
        figures['max_open_on_server'] = max(on_server.samples)
        figures['max_open_on_server_unsettled'] = max(raw)
    if budget:
        figures['within_budget_at_every_sample'] = (
            figures['max_open'] <= budget and
            figures.get('max_open_on_server', 0) <= budget)
    return figures


def _bare_new_connection(cells: list[dict], connect, sql: str) -> dict:
    """The bare driver: a new connection, the instance select, close."""
    def one(cell):
        connection = connect(cell)
        try:
            cursor = connection.cursor()
            cursor.execute(sql, {'uuid': cell['instance']})
            return cursor.fetchone() is not None
        finally:
            connection.close()

    samples, wrong = _from_threads(one, _picks(cells, None, seed=11))
    return dict(_summary(samples), **wrong)


def _median_round(rounds: list[dict]) -> dict:
    """The figures of the round whose median is the median of the rounds'
    (one round's figures, consistent with each other), with every round's
    median, and what must hold in every round checked in every round."""
    ordered = sorted(rounds, key=lambda figures: figures['median_us'])
    figures = dict(ordered[len(ordered) // 2])
    figures['round_medians_us'] = [round_['median_us'] for round_ in rounds]
    figures['wrong_reads'] = sum(round_['wrong_reads'] for round_ in rounds)
    errors: collections.Counter = collections.Counter()
    for round_ in rounds:
        errors.update(round_['errors'])
    figures['errors'] = dict(errors)
    if 'max_open' in figures:
        figures['max_open'] = max(round_['max_open'] for round_ in rounds)
    if 'within_budget_at_every_sample' in figures:
        figures['within_budget_at_every_sample'] = all(
            round_['within_budget_at_every_sample'] for round_ in rounds)
    return figures


def _compare(directory: str, api_urls: dict, cells: list[dict],
             connect, sql: str, server_count=None,
             no_budget: bool = True) -> dict:
    budget_name = 'budget_%d' % BUDGET
    runs = {
        ('two_cells',): functools.partial(
            _workload, directory, api_urls[2], cells[:2], BUDGET, None,
            server_count),
        ('bare_new_connection',): functools.partial(
            _bare_new_connection, cells, connect, sql),
    }
    for name, hot in (('working_set', HOT_CELLS), ('uniform', None)):
        runs[name, budget_name] = functools.partial(
            _workload, directory, api_urls['all'], cells, BUDGET, hot,
            server_count)
        if no_budget:
            runs[name, 'no_budget'] = functools.partial(
                _workload, directory, api_urls['all'], cells, 0, hot)
    rounds: dict = {path: [] for path in runs}
    for _round in range(ROUNDS):
        for path, measure in runs.items():
            rounds[path].append(measure())
    result: dict = {}
    for path, figures in rounds.items():
        place = result
        for step in path[:-1]:
            place = place.setdefault(step, {})
        place[path[-1]] = _median_round(figures)
    two = result['two_cells']
    if not no_budget:
        for name in ('working_set', 'uniform'):
            result[name]['no_budget'] = {
                'skipped': 'one connection per cell touched exceeds the '
                           "server's max_connections"}
    working = result['working_set']['budget_%d' % BUDGET]
    uniform = result['uniform']['budget_%d' % BUDGET]
    result['goals'] = {
        'working_set_over_two_cells': round(
            working['median_us'] / two['median_us'], 2),
        'working_set_goal_at_most': GOAL_WORKING_SET_OVER_TWO_CELLS,
        'uniform_over_bare_new_connection': round(
            uniform['median_us'] /
            result['bare_new_connection']['median_us'], 2),
        'uniform_goal_at_most': GOAL_UNIFORM_OVER_BARE,
        'within_budget_at_every_sample': bool(
            working['within_budget_at_every_sample'] and
            uniform['within_budget_at_every_sample']),
        'every_read_right': not (working['wrong_reads'] or
                                 uniform['wrong_reads']),
    }
    result['goals']['met'] = bool(
        result['goals']['working_set_over_two_cells'] <=
        GOAL_WORKING_SET_OVER_TWO_CELLS and
        result['goals']['uniform_over_bare_new_connection'] <=
        GOAL_UNIFORM_OVER_BARE and
        result['goals']['within_budget_at_every_sample'] and
        result['goals']['every_read_right'])
    return result



def _sqlite(directory: str) -> dict:
    cells = scale_budget_cells.sqlite_cells(directory, SQLITE_CELLS)
    api_urls = {2: 'sqlite:///' + os.path.join(directory, 'api2.sqlite'),
                'all': 'sqlite:///' + os.path.join(directory, 'api.sqlite')}
    scale_budget_cells.api_database(api_urls[2], cells[:2])
    scale_budget_cells.api_database(api_urls['all'], cells)
    with open(os.path.join(directory, 'cells.json'), 'w') as stream:
        json.dump(cells, stream)
    memory = scale_budget_memory.in_child(directory, api_urls['all'])
    result = _compare(directory, api_urls, cells,
                      lambda cell: sqlite3.connect(cell['path']),
                      _SELECT % {'uuid': ':uuid'})
    result['memory'] = memory
    result['cells'] = SQLITE_CELLS
    return result


def _postgresql(directory: str) -> dict:
    names = ['db%d' % index for index in range(POSTGRESQL_DATABASES)]
    with server_databases.databases('postgresql', names) as urls:
        cells = scale_budget_cells.postgresql_cells(
            [urls[name] for name in names], POSTGRESQL_CELLS)
        api_urls = {2: 'sqlite:///' + os.path.join(directory, 'pg2.sqlite'),
                    'all': 'sqlite:///' + os.path.join(directory,
                                                       'pg.sqlite')}
        scale_budget_cells.api_database(api_urls[2], cells[:2])
        scale_budget_cells.api_database(api_urls['all'], cells)
        database_names = [sa.engine.make_url(urls[name]).database
                          for name in names]
        counter = sa.create_engine(urls[names[0]],
                                   poolclass=sa.pool.StaticPool)
        count_query = sa.text('SELECT count(*) FROM pg_stat_activity '
                              'WHERE datname = ANY(:names) AND '
                              "application_name LIKE 'bcell%'")

        def server_count():
            with counter.connect() as connection:
                return connection.execute(
                    count_query, {'names': database_names}).scalar_one()

        import psycopg2

        def connect(cell):
            url = sa.engine.make_url(cell['url'])
            return psycopg2.connect(
                host=url.host, port=url.port, user=url.username,
                password=url.password, dbname=url.database,
                application_name='bare')

        try:
            result = _compare(directory, api_urls, cells, connect,
                              _SELECT % {'uuid': '%(uuid)s'}, server_count,
                              no_budget=False)
        finally:
            counter.dispose()
    result['cells'] = POSTGRESQL_CELLS
    result['databases'] = POSTGRESQL_DATABASES
    return result


def run(directory: str) -> dict:
    """Every figure; ``directory`` is a scratch directory of its own."""
    result = {'threads': THREADS, 'budget': BUDGET, 'reads': READS,
              'sqlite': _sqlite(directory)}
    reason = server_databases.reachable()['postgresql']
    result['postgresql'] = (_postgresql(directory) if reason is None
                            else {'skipped': reason})
    return result

