"""What per-call routing costs, against the raw SQLAlchemy floor (JSON).

Workload: one cell main database in a SQLite file holding 2,000 instances,
reached through a warm connection registry. Measured, each as median and
p99 in microseconds:

* ``target_cell``: entering and leaving ``target_cell(ctxt, cell)``;
* ``routed_get``: ``instance_get_by_uuid`` through a targeted context;
* ``target_and_get``: both, as a request handler does them;
* ``raw_get``: the floor, the same row read by a SQLAlchemy Core
  ``select`` on a plain engine, checking a pooled connection out and back
  in per read as the routed call does;
* ``raw_get_held``: the same select on one connection held throughout
  (no pool round trip), for reference;
* ``orm_get``: the same row as an ORM object from a plain SQLAlchemy
  ``Session`` per read on the plain engine (no oslo.db, prebuilt select):
  the least an ORM-returning DB API can cost, for reference.
* ``facade_engine_get``: the raw floor's select and pooled connection, but
  on the engine oslo.db built for the cell (its event listeners, its
  explicit SQLite BEGIN), outside any oslo.db transaction context, for
  reference: ``raw_get`` to here is what the oslo.db engine costs,
  here to ``routed_get`` what its transaction context and the routing
  cost.

``routed_over_raw`` is ``routed_get`` over ``raw_get`` (medians).
Goals: ``target_cell`` under 10 us median (Nova measured 73 us) and
``routed_over_raw`` within 1.5.

``servers`` repeats the read on PostgreSQL and MariaDB when they are
reachable (a throwaway database with the same 2,000 instances):
``routed_get`` (pre-targeted ``instance_get_by_uuid``) against the floor
``driver_autocommit_held``, the same select by the bare driver (psycopg2,
PyMySQL) on one connection held in autocommit, and, for reference,
``sqlalchemy_pooled_get``, a plain SQLAlchemy pooled connection per read
(``BEGIN``, select, ``ROLLBACK``). ``plain_engine_autocommit_get`` is the
least SQLAlchemy itself costs for a read that checks a pooled connection
out and back in, as every routed call must: a plain engine made in
autocommit (``isolation_level='AUTOCOMMIT'`` on the engine, so no
per-checkout switch, and no reset on check-in: nothing but the select is
sent), no listeners;
``sqlalchemy_floor_over_driver`` is it over the driver, and
``goal_reachable_through_sqlalchemy_pool`` says whether even that is
within the goal. ``plain_held_autocommit_get`` is the same select on one
such connection held throughout (no pool round trip), for reference. What
oslo.db's engine adds is ``facade_engine_autocommit_get`` (the engine
oslo.db built for the cell, a pooled autocommit connection, no
transaction context) over ``plain_engine_autocommit_get``, and its
transaction context and the routing are ``routed_get`` over
``facade_engine_autocommit_get``. Goal: ``routed_over_driver`` within 1.5
on each server. The calls take turns, one call each in a row, so load
from other processes slows them alike.

Usage: ``python -m benchmarks.bench_routing [--iterations N] [--profile]``;
``run()`` returns the figures as a dict. Bounded well under 60 s.
"""

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid as uuid_lib
import warnings

import sqlalchemy as sa
import sqlalchemy.orm

try:
    from benchmarks import server_databases
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import server_databases
    import timing

INSTANCES = 2000
DEFAULT_ITERATIONS = 5000
WARMUP = 300
GOAL_TARGET_CELL_US = 10.0
GOAL_ROUTED_OVER_RAW = 1.5
SERVER_ITERATIONS = 2000
GOAL_ROUTED_OVER_DRIVER = 1.5


@dataclasses.dataclass
class _Cell:
    uuid: str
    database_connection: str
    transport_url: str = 'none:///'


def _measure(function, arguments: list, iterations: int) -> dict:
    for index in range(WARMUP):
        function(arguments[index % len(arguments)])
    samples = []
    clock = time.perf_counter_ns
    for index in range(iterations):
        argument = arguments[index % len(arguments)]
        start = clock()
        function(argument)
        samples.append((clock() - start) / 1000.0)
    return dict(timing.summary(samples, 'us', 2), iterations=iterations)


def _configure(directory: str):
    from nova_cells import config
    from nova_cells import connections
    from nova_cells.conf import CONF

    config.parse_args(['bench_routing'], default_config_files=[],
                      configure_logging=False)
    CONF.set_override('state_path', directory)
    connections.get_registry().configure(CONF)
    return connections.get_registry()


def _populate(url: str) -> list[str]:
    from nova_cells.db.sqlalchemy import models
    from nova_cells.db.sqlalchemy import schema

    schema.create_tables(url, 'main')
    uuids = [str(uuid_lib.uuid4()) for _ in range(INSTANCES)]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(models.Instance.__table__.insert(), [
            {'uuid': uuid, 'host': 'host%d' % (index % 50),
             'project_id': 'project%d' % (index % 7), 'deleted': 0,
             'vm_state': 'active', 'display_name': 'vm%d' % index}
            for index, uuid in enumerate(uuids)])
    engine.dispose()
    return uuids


def run(iterations: int = DEFAULT_ITERATIONS, profile: bool = False) -> dict:
    from nova_cells import context
    from nova_cells.db.sqlalchemy import api as db_api
    from nova_cells.db.sqlalchemy import models

    directory = tempfile.mkdtemp(prefix='bench_routing_')
    try:
        _configure(directory)
        url = 'sqlite:///' + os.path.join(directory, 'cell1.sqlite')
        uuids = _populate(url)
        cell = _Cell(str(uuid_lib.uuid4()), url)
        root = context.get_admin_context()

        def enter_and_leave(_uuid):
            with context.target_cell(root, cell):
                pass

        with context.target_cell(root, cell) as targeted:
            def routed_get(uuid):
                db_api.instance_get_by_uuid(targeted, uuid)

            def target_and_get(uuid):
                with context.target_cell(root, cell) as cctxt:
                    db_api.instance_get_by_uuid(cctxt, uuid)

            table = models.Instance.__table__
            statement = sa.select(table).where(
                table.c.uuid == sa.bindparam('uuid'), table.c.deleted == 0)
            engine = sa.create_engine(url)  # SQLite files: a QueuePool

            def raw_get(uuid):
                with engine.connect() as connection:
                    connection.execute(statement, {'uuid': uuid}).one()

            orm_statement = sa.select(models.Instance).where(
                models.Instance.uuid == sa.bindparam('uuid'),
                models.Instance.deleted == 0)
            session_maker = sa.orm.sessionmaker(engine,
                                                expire_on_commit=False)

            def orm_get(uuid):
                with session_maker() as session:
                    session.execute(orm_statement,
                                    {'uuid': uuid}).scalar_one()

            held = engine.connect()

            def raw_get_held(uuid):
                held.execute(statement, {'uuid': uuid}).one()

            facade_engine = db_api.get_engine(context=targeted)

            def facade_engine_get(uuid):
                with facade_engine.connect() as connection:
                    connection.execute(statement, {'uuid': uuid}).one()

            cases = {'target_cell': enter_and_leave,
                     'routed_get': routed_get,
                     'target_and_get': target_and_get,
                     'raw_get': raw_get,
                     'raw_get_held': raw_get_held,
                     'orm_get': orm_get,
                     'facade_engine_get': facade_engine_get}
            results = {name: _measure(function, uuids, iterations)
                       for name, function in cases.items()}
            if profile:
                results['profile'] = _profile(routed_get, target_and_get,
                                              uuids)
            held.close()
            engine.dispose()
    finally:
        from nova_cells import connections
        connections.get_registry().dispose_all()
        shutil.rmtree(directory, ignore_errors=True)

    results['servers'] = _servers(min(iterations, SERVER_ITERATIONS))
    ratio = results['routed_get']['median_us'] / results['raw_get'][
        'median_us']
    results['routed_over_raw'] = round(ratio, 2)
    results['orm_over_raw'] = round(
        results['orm_get']['median_us'] / results['raw_get']['median_us'], 2)
    results['goals'] = {
        'target_cell_median_under_us': GOAL_TARGET_CELL_US,
        'target_cell_met': (results['target_cell']['median_us'] <
                            GOAL_TARGET_CELL_US),
        'routed_over_raw_at_most': GOAL_ROUTED_OVER_RAW,
        'routed_over_raw_met': ratio <= GOAL_ROUTED_OVER_RAW,
    }
    results['workload'] = {'backend': 'sqlite (file)',
                           'instances': INSTANCES}
    return results


def _interleaved(functions: dict, arguments: list, iterations: int) -> dict:
    """Like :func:`_measure` for several functions at once, taking turns
    call by call, so a loaded machine slows each of them alike."""
    for index in range(WARMUP):
        for function in functions.values():
            function(arguments[index % len(arguments)])
    samples = {name: [] for name in functions}
    clock = time.perf_counter_ns
    for index in range(iterations):
        argument = arguments[index % len(arguments)]
        for name, function in functions.items():
            start = clock()
            function(argument)
            samples[name].append((clock() - start) / 1000.0)
    return {name: dict(timing.summary(values, 'us', 2),
                       iterations=iterations)
            for name, values in samples.items()}


def _server(kind: str, iterations: int) -> dict:
    from nova_cells import connections
    from nova_cells import context
    from nova_cells.db.sqlalchemy import api as db_api
    from nova_cells.db.sqlalchemy import models

    table = models.Instance.__table__
    statement = sa.select(table).where(
        table.c.uuid == sa.bindparam('uuid'), table.c.deleted == 0)
    with server_databases.databases(kind, ['cell']) as urls:
        url = urls['cell']
        uuids = _populate(url)
        sql, parameters = server_databases.driver_select(url, statement)
        cell = _Cell(str(uuid_lib.uuid4()), url)
        engine = sa.create_engine(url)
        # Nothing to roll back in autocommit: no reset on check-in either
        # (on MySQL it would be one more round trip).
        autocommit_engine = sa.create_engine(
            url, isolation_level='AUTOCOMMIT', pool_reset_on_return=None)
        held = autocommit_engine.connect()
        with server_databases.driver_connection(url) as driver, \
                context.target_cell(context.get_admin_context(),
                                    cell) as targeted:
            cursor = driver.cursor()

            def driver_get(uuid):
                cursor.execute(sql, dict(parameters, uuid=uuid))
                cursor.fetchone()

            def routed_get(uuid):
                db_api.instance_get_by_uuid(targeted, uuid)

            def pooled_get(uuid):
                with engine.connect() as connection:
                    connection.execute(statement, {'uuid': uuid}).one()

            def plain_autocommit_get(uuid):
                with autocommit_engine.connect() as connection:
                    connection.execute(statement, {'uuid': uuid}).one()

            def plain_held_get(uuid):
                held.execute(statement, {'uuid': uuid}).one()

            facade_engine = db_api.get_engine(context=targeted)

            def facade_autocommit_get(uuid):
                # The cell engine's autocommit switch is tuned to cost
                # nothing on either server (round_trips), as routed reads
                # use it.
                with facade_engine.connect() as connection:
                    connection.execution_options(
                        isolation_level='AUTOCOMMIT')
                    connection.execute(statement, {'uuid': uuid}).one()

            figures = _interleaved(
                {'driver_autocommit_held': driver_get,
                 'routed_get': routed_get,
                 'sqlalchemy_pooled_get': pooled_get,
                 'plain_engine_autocommit_get': plain_autocommit_get,
                 'plain_held_autocommit_get': plain_held_get,
                 'facade_engine_autocommit_get': facade_autocommit_get},
                uuids, iterations)
            connections.get_registry().dispose_database(
                targeted.db_connection)
        held.close()
        autocommit_engine.dispose()
        engine.dispose()
    driver_median = figures['driver_autocommit_held']['median_us']
    ratio = figures['routed_get']['median_us'] / driver_median
    floor = figures['plain_engine_autocommit_get']['median_us'] / driver_median
    figures['sqlalchemy_floor_over_driver'] = round(floor, 2)
    figures['goal_reachable_through_sqlalchemy_pool'] = (
        floor <= GOAL_ROUTED_OVER_DRIVER)
    figures['routed_over_driver'] = round(ratio, 2)
    figures['goal_routed_over_driver_at_most'] = GOAL_ROUTED_OVER_DRIVER
    figures['goal_met'] = ratio <= GOAL_ROUTED_OVER_DRIVER
    return figures


def _servers(iterations: int) -> dict:
    """The server figures, or why a server was left out."""
    return {kind: _server(kind, iterations) if reason is None
            else {'skipped': reason}
            for kind, reason in server_databases.reachable().items()}


def _profile(routed_get, target_and_get, uuids: list[str]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for uuid in uuids:
        routed_get(uuid)
        target_and_get(uuid)
    profiler.disable()
    output = io.StringIO()
    pstats.Stats(profiler, stream=output).sort_stats(
        'cumulative').print_stats(25)
    return output.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int,
                        default=DEFAULT_ITERATIONS)
    parser.add_argument('--profile', action='store_true',
                        help='also print a cProfile of the routed calls '
                             'to stderr')
    args = parser.parse_args(argv)
    warnings.simplefilter('ignore')
    results = run(args.iterations, profile=args.profile)
    profile = results.pop('profile', None)
    if profile:
        print(profile, file=sys.stderr)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
