"""The main job from start to end: ``python -m nova_cells.demo``.

Steps 1-6 build the deployment (each one safe to run again), steps 7-12
show it working. Each heading names the ``nova-cells-manage`` command or
library call the step stands for.
"""

import sys
import time
import traceback

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import config
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import urls
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cmd import cell_v2
from nova_cells.cmd import common
from nova_cells.cmd import db as db_command
from nova_cells.conf import CONF
from nova_cells.db import migration
from nova_cells.demo import build
from nova_cells.demo import environment
from nova_cells.demo import report

__all__ = [
    'Heading',
    'main',
    'run',
]

_OPTS = [
    cfg.IntOpt('instances', default=build.DEFAULT_INSTANCES, min=10,
               max=100000,
               help='Instances to create across cell1 and cell2 on the '
                    'first run (3/5 in cell1, 2/5 in cell2).'),
    cfg.BoolOpt('rpc', default=True,
                help='Call each cell over RPC (--norpc: skip it).'),
]

# The demo's own story is on stdout; what the libraries log as they work
# would drown it. --debug shows everything. (amqp warns about messages
# still arriving on a channel being closed when the RPC servers stop.)
_QUIET_LOGGERS = ['nova_cells=WARN', 'alembic=WARN', 'oslo_messaging=WARN',
                  'oslo.messaging=WARN', 'amqp=ERROR']


class Heading:
    """Numbered section headings."""

    def __init__(self) -> None:
        self.number = 0

    def __call__(self, title: str) -> None:
        self.number += 1
        text = '%d. %s' % (self.number, title)
        print('\n%s\n%s' % (text, '-' * len(text)), flush=True)


def _setup(argv: list[str]) -> None:
    # The command line of an earlier call in this process would stop new
    # options from registering; overrides are kept.
    CONF.clear()
    CONF.register_cli_opts(_OPTS)
    CONF.set_default('transport_url', environment.DEFAULT_TRANSPORT_URL)
    config.parse_args(argv, configure_logging=False)
    if not CONF.debug:
        CONF.set_default('default_log_levels',
                         logging.get_default_log_levels() + _QUIET_LOGGERS)
    logging.setup(CONF, 'nova_cells')
    connections.get_registry().configure(
        transport_factory=environment.transport_factory)


def _print_where() -> None:
    print('nova_cells demo')
    if any(url.startswith('sqlite') for url in (
            CONF.api_database.connection, CONF.database.connection)):
        print('  state_path                 %s' % CONF.state_path)
    print('  [api_database] connection  %s' % urls.mask_url(
        CONF.api_database.connection))
    print('  [database] connection      %s' % urls.mask_url(
        CONF.database.connection))
    print('  [DEFAULT] transport_url    %s' % urls.mask_url(
        CONF.transport_url))


def _api_database(heading) -> None:
    heading('API database (nova-cells-manage api_db sync)')
    created = environment.ensure_database(CONF.api_database.connection)
    if created:
        print('created database %s' % urls.database_name(
            CONF.api_database.connection))
    migration.db_sync(database=migration.API)
    print('at revision %s' % migration.db_version(database=migration.API))


def _cells(heading, ctxt) -> list[build.CellOutcome]:
    heading('Cells (cell_v2 map_cell0, cell_v2 create_cell)')
    outcomes = build.ensure_cells(ctxt)
    for outcome in outcomes:
        print('%-6s %-16s %s' % (
            outcome.cell.name, 'created now' if outcome.created
            else 'already mapped', outcome.cell.uuid))
        if outcome.database_created:
            print('       created database %s' % urls.database_name(
                outcome.cell.database_connection))
        if outcome.note:
            print('       note: %s' % outcome.note)
    return outcomes


def _databases(heading, cells) -> int:
    heading('Main databases of every cell (db sync --all-cells)')
    for name in build.ensure_cell_databases(cells):
        print('created database %s' % name)
    return db_command.sync(all_cells=True)


def _populate(heading, ctxt, cells) -> list[build.Population]:
    heading('Compute hosts and instances (routed DB API, targeted '
            'contexts)')
    populations = [build.populate_cell(ctxt, cell, CONF.instances)
                   for cell in cells]
    report.table(
        ['Cell', 'Hosts created', 'Hosts found', 'Instances created',
         'Instances found'],
        [[p.cell, p.hosts_created, p.hosts_found, p.instances_created,
          p.instances_found] for p in populations])
    return populations


def _discover(heading, ctxt) -> hosts_admin.Discovery:
    heading('Host discovery (cell_v2 discover_hosts --verbose, '
            'list_hosts)')
    discovery = hosts_admin.discover_hosts(ctxt, status=print)
    print('This run mapped %d host(s).' % len(discovery.mapped))
    cell_v2.list_hosts()
    return discovery


def _map_instances(heading, cells) -> int:
    heading('Instance mappings (cell_v2 map_instances, per cell)')
    return max(cell_v2.map_instances(cell.uuid) for cell in cells)


def _show(heading, ctxt, cells, names) -> tuple[bool, bool]:
    heading('List cells (cell_v2 list_cells: passwords masked)')
    cell_v2.list_cells()
    uuid = report.pick_instance(ctxt, cells[-1])
    if uuid is None:
        print('no instance to show in %s' % cells[-1].name)
        return False, False
    heading('Verify one instance (cell_v2 verify_instance --uuid %s)' %
            uuid)
    verified = report.verify_instance(uuid) == 0
    heading('Show that instance, routed to its cell')
    if verified:
        report.show_instance(ctxt, uuid)
    else:
        print('not shown: it is not mapped to a cell')
    heading('First page of instances across all cells')
    page = report.first_page(ctxt, names)
    heading('Instances per cell (scatter-gather)')
    counts = report.count_per_cell(ctxt, cells)
    return verified and page.complete, counts.consistent


def _summary(outcomes, populations, discovery, started: float) -> None:
    cells = sum(outcome.created for outcome in outcomes)
    repointed = sum(outcome.repointed for outcome in outcomes)
    hosts = sum(population.hosts_created for population in populations)
    instances = sum(population.instances_created
                    for population in populations)
    print('\nThis run created %d cell(s), %d compute host(s) and %d '
          'instance(s), and mapped %d host(s); %.1f s.' % (
              cells, hosts, instances, len(discovery.mapped),
              time.monotonic() - started))
    if repointed:
        print('It repointed %d cell(s) at this configuration\'s message '
              'queue.' % repointed)
    if not (cells or hosts or instances or repointed):
        print('Everything was already there: running it again is safe.')


def run(argv: list[str]) -> int:
    started = time.monotonic()
    _setup(argv)
    _print_where()
    heading = Heading()
    ctxt = nova_context.get_admin_context()
    _api_database(heading)
    outcomes = _cells(heading, ctxt)
    cells = [outcome.cell for outcome in outcomes]
    names = {cell.uuid: cell.name for cell in cells}
    problems = []
    if _databases(heading, cells):
        problems.append('a database failed to migrate')
    populations = _populate(heading, ctxt, cells)
    discovery = _discover(heading, ctxt)
    if discovery.conflicts or discovery.failed_cells:
        problems.append('host discovery found conflicts or failed cells')
    if _map_instances(heading, cells):
        problems.append('map_instances did not finish')
    shown, consistent = _show(heading, ctxt, cells, names)
    if not shown:
        problems.append('an instance could not be verified or listed')
    if not consistent:
        problems.append('instances and mappings do not match')
    if CONF.rpc:
        heading("RPC: calls through each cell's context (ClientRouter)")
        if not report.rpc_round_trips(ctxt, CONF, cells):
            problems.append('an RPC round trip failed')
    _summary(outcomes, populations, discovery, started)
    for problem in problems:
        print('PROBLEM: %s' % problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every step and check succeeded, else 1."""
    argv = sys.argv if argv is None else argv
    try:
        return run(argv)
    except Exception as error:
        if getattr(CONF, 'debug', False):
            traceback.print_exc()
        print('ERROR: %s' % common.error_line(error), file=sys.stderr)
        return 1
    finally:
        connections.get_registry().dispose_all()

