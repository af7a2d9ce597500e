"""``nova-cells-manage cell_v2``: Nova's cells v2 operator commands.

This module only parses arguments, calls :mod:`nova_cells.cells_admin`,
prints, and turns the exceptions it raises into exit codes. Errors are one
line on stderr (passwords masked); ``--debug`` adds the traceback. Usage
errors (a missing required option) exit 2, as argparse does; any error not
listed below exits 1.

Exit codes (Nova's unless marked *):

========================  ==================================================
map_cell0                 0 cell0 mapped (or already was); 1* its database
                          URL is invalid or cannot be derived
simple_cell_setup         0 done (or already done); 1 transport URL missing
                          or invalid, or no compute host reports to the
                          local database; 2, 3 as discover_hosts
create_cell               0 created; 1 a URL is missing or invalid (or a
                          template cannot be filled here); 2 another cell
                          already uses that database (*Nova: that transport
                          URL and database pair)
update_cell               0 updated; 1 no such cell; 2 a URL is invalid (or
                          a template cannot be filled here); 3 another cell
                          uses that database; 4 --disable with --enable;
                          5 enabling or disabling cell0
delete_cell               0 deleted; 1 no such cell; 2 hosts are mapped
                          (use --force); 3 live instances are in the cell;
                          4 mappings of deleted instances remain (use
                          --force); 5* cell0 without --force-cell0
list_cells                0
map_cell_and_hosts        0 done (also when no host reports); 1 transport
                          URL missing or invalid; 2, 3 as discover_hosts
map_instances             0 every instance is mapped; 1 --max-count was
                          reached and more remain (run again to resume);
                          127 --max-count or --batch-size below 1, or no
                          such cell (*Nova: 127 for --max-count only)
verify_instance           0 mapped to a cell; 1 no instance mapping; 2
                          mapped to no cell yet; 3 deleted in its cell, the
                          mapping remains; 4 archived, the mapping remains
discover_hosts            0 done (hosts mapped concurrently by another run
                          included); 1 --strict and this run mapped no host;
                          2 a host is mapped to another cell (left alone,
                          the others were mapped); 3* a cell's database
                          could not be read (the others were discovered);
                          127* no such cell (when several of 1-3 apply,
                          the highest is returned)
list_hosts                0; 1 no such cell
delete_host               0 deleted; 1 no such cell; 2 host not mapped; 3
                          host mapped to another cell; 4 instances on it
========================  ==================================================
"""

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import database_sync
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.cells_admin import simple_setup as setup_admin
from nova_cells.cmd import common
from nova_cells.conf import CONF
from nova_cells.masking import mask_url

EXIT_INVALID = 127

ExitCodes = dict[type, int]


# -- plumbing -----------------------------------------------------------------

def _error(message: str) -> None:
    print('ERROR: %s' % message, file=sys.stderr)


def _warning(message: str) -> None:
    print('WARNING: %s' % message, file=sys.stderr)


def _debug() -> bool:
    try:
        return bool(CONF.debug)
    except cfg.NoSuchOptError:
        return False


def _run(call: Callable[[], int | None], codes: ExitCodes) -> int:
    """Run ``call``; an exception listed in ``codes`` (or a subclass of
    one) becomes its exit code and one line on stderr. Others propagate
    to :mod:`nova_cells.cmd.manage` (exit 1)."""
    try:
        result = call()
    except tuple(codes) as error:
        if _debug():
            traceback.print_exc()
        _error(common.error_line(error))
        return next(code for kind, code in codes.items()
                    if isinstance(error, kind))
    return common.EXIT_SUCCESS if result is None else result


def _context() -> nova_context.RequestContext:
    return nova_context.get_admin_context()


_URL_ERRORS: tuple[type, ...] = (exception.MissingCellURL,
                                 exception.InvalidCellURL,
                                 exception.CellURLTemplateError)


# -- cells --------------------------------------------------------------------

def map_cell0(database_connection: str | None = None) -> int:
    def call() -> None:
        _cell0, created = cells_admin.map_cell0(_context(),
                                                database_connection)
        if not created:
            print('Cell0 is already setup')
    return _run(call, dict.fromkeys(_URL_ERRORS, 1))


def create_cell(name: str | None = None, transport_url: str | None = None,
                database_connection: str | None = None,
                disabled: bool = False, verbose: bool = False) -> int:
    def call() -> None:
        cell = cells_admin.create_cell(
            _context(), name=name, transport_url=transport_url,
            database_connection=database_connection, disabled=disabled)
        if verbose:
            print(cell.uuid)
    codes = dict.fromkeys(_URL_ERRORS, 1)
    codes[exception.CellDatabaseInUse] = 2
    return _run(call, codes)


def update_cell(cell_uuid: str, name: str | None = None,
                transport_url: str | None = None,
                database_connection: str | None = None,
                disable: bool = False, enable: bool = False) -> int:
    def call() -> None:
        update = cells_admin.update_cell(
            _context(), cell_uuid, name=name, transport_url=transport_url,
            database_connection=database_connection, disable=disable,
            enable=enable)
        for note in update.notes:
            print(note)
    codes: ExitCodes = {exception.CellMappingNotFound: 1,
                        exception.CellDatabaseInUse: 3,
                        exception.InvalidCellState: 4,
                        exception.Cell0StateChange: 5}
    codes.update(dict.fromkeys(_URL_ERRORS, 2))
    return _run(call, codes)


def delete_cell(cell_uuid: str, force: bool = False,
                force_cell0: bool = False) -> int:
    def call() -> None:
        cells_admin.delete_cell(_context(), cell_uuid, force=force,
                                force_cell0=force_cell0)
    return _run(call, {exception.CellMappingNotFound: 1,
                       exception.CellHasHosts: 2,
                       exception.CellHasInstances: 3,
                       exception.CellHasInstanceMappings: 4,
                       exception.Cell0DeletionRefused: 5})


def _cell_record(cell, verbose: bool) -> dict[str, Any]:
    def shown(field: str) -> str:
        value = getattr(cell, field)
        return value if verbose else mask_url(value)
    return {'name': cell.name, 'uuid': cell.uuid,
            'transport_url': shown('transport_url'),
            'database_connection': shown('database_connection'),
            'disabled': bool(cell.disabled)}


def list_cells(verbose: bool = False, output_format: str = 'table') -> int:
    records = [_cell_record(cell, verbose)
               for cell in cells_admin.list_cells(_context())]
    if output_format == 'json':
        print(json.dumps(records, indent=2))
        return common.EXIT_SUCCESS
    print(common.table(
        ['Name', 'UUID', 'Transport URL', 'Database Connection', 'Disabled'],
        [[record['name'] or '', record['uuid'], record['transport_url'],
          record['database_connection'], record['disabled']]
         for record in records]))
    return common.EXIT_SUCCESS


# -- hosts --------------------------------------------------------------------

def _report_discovery(discovery: hosts_admin.Discovery) -> int:
    for conflict in discovery.conflicts:
        _error('host %s, found in cell %s, is already mapped to cell %s; '
               'it was left alone' % (conflict.host, conflict.cell,
                                      conflict.mapped_cell))
    for cell, reason in discovery.failed_cells:
        _error('cell %s could not be searched: %s' % (
            cell, common.error_line(Exception(reason))))
    if discovery.failed_cells:
        return 3
    if discovery.conflicts:
        return 2
    return common.EXIT_SUCCESS


def _status(verbose: bool) -> Callable[[str], None]:
    return print if verbose else hosts_admin.quiet


def discover_hosts(cell_uuid: str | None = None, verbose: bool = False,
                   strict: bool = False, by_service: bool = False) -> int:
    def call() -> int:
        discovery = hosts_admin.discover_hosts(
            _context(), cell_uuid=cell_uuid, by_service=by_service,
            status=_status(verbose))
        if verbose and discovery.already_mapped:
            print('%d host(s) were already mapped.' %
                  len(discovery.already_mapped))
        code = _report_discovery(discovery)
        if code == common.EXIT_SUCCESS and strict and not discovery.mapped:
            _error('--strict: this run mapped no host.')
            return 1
        return code
    return _run(call, {exception.CellMappingNotFound: EXIT_INVALID})


def list_hosts(cell_uuid: str | None = None) -> int:
    def call() -> None:
        rows = hosts_admin.list_hosts(_context(), cell_uuid)
        print(common.table(['Cell Name', 'Cell UUID', 'Hostname'],
                     [[row.cell_name or '', row.cell_uuid, row.host]
                      for row in rows]))
    return _run(call, {exception.CellMappingNotFound: 1})


def delete_host(cell_uuid: str, host: str) -> int:
    def call() -> None:
        hosts_admin.delete_host(_context(), cell_uuid, host)
    return _run(call, {exception.CellMappingNotFound: 1,
                       exception.HostNotInCell: 3,
                       exception.HostMappingNotFound: 2,
                       exception.HostHasInstances: 4})


def map_cell_and_hosts(transport_url: str | None = None,
                       name: str | None = None,
                       verbose: bool = False) -> int:
    def call() -> int:
        outcome = setup_admin.map_cell_and_hosts(
            _context(), transport_url=transport_url, name=name,
            status=_status(verbose))
        if outcome.cell is None:
            print('No hosts found to map to cell, exiting.')
            return common.EXIT_SUCCESS
        if verbose:
            print(outcome.cell.uuid)
        return _report_discovery(outcome.discovery)
    return _run(call, dict.fromkeys(_URL_ERRORS, 1))


def simple_cell_setup(transport_url: str | None = None) -> int:
    def call() -> int:
        outcome = setup_admin.simple_cell_setup(
            _context(), transport_url=transport_url)
        if not outcome.cell0_created:
            print('Cell0 is already setup')
        if outcome.cell0_sync_error:
            _error('unable to sync the cell0 schema: %s' %
                   common.error_line(Exception(outcome.cell0_sync_error)))
        if outcome.cell_and_hosts.cell is None:
            print('No hosts found to map to cell, exiting.')
            return 1
        return _report_discovery(outcome.cell_and_hosts.discovery)
    return _run(call, dict.fromkeys(_URL_ERRORS, 1))


# -- instances ----------------------------------------------------------------

def _print_progress(result: instances_admin.MapInstancesResult) -> None:
    print('... %d instances examined, %d mapped (last instance id %s)' % (
        result.examined, result.mapped, result.last_instance_id), flush=True)


def _count(option: str, text: str | None) -> int | None:
    """An integer option, parsed here so that a bad value gets the
    command's documented exit code rather than argparse's usage error."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise exception.InvalidMaxCount(option=option,
                                        value=repr(text)) from None


def map_instances(cell_uuid: str, max_count: str | None = None,
                  reset: bool = False, batch_size: str | None = None) -> int:
    def call() -> int:
        size = _count('--batch-size', batch_size)
        result = instances_admin.map_instances(
            _context(), cell_uuid,
            max_count=_count('--max-count', max_count), reset=reset,
            batch_size=(instances_admin.DEFAULT_BATCH_SIZE if size is None
                        else size),
            progress=_print_progress)
        if result.resumed_after:
            print('Resumed after instance id %d.' % result.resumed_after)
        print('%d instances examined in cell %s: %d mapped, %d already '
              'mapped.' % (result.examined, result.cell, result.mapped,
                           result.already_mapped))
        if result.unmappable:
            _warning('%d instance(s) have no project_id and were not '
                     'mapped: %s' % (len(result.unmappable),
                                     ', '.join(result.unmappable[:10])))
        if result.more_remaining:
            print('More instances remain; run map_instances again to '
                  'continue.')
            return 1
        return common.EXIT_SUCCESS
    return _run(call, {exception.InvalidMaxCount: EXIT_INVALID,
                       exception.CellMappingNotFound: EXIT_INVALID})


def verify_instance(uuid: str, quiet: bool = False) -> int:
    verification = instances_admin.verify_instance(_context(), uuid)
    if not quiet:
        print(verification.message)
    return int(verification.status)


# -- the category -------------------------------------------------------------

_CELL_UUID = common.argument('cell_uuid', '--cell_uuid', '--cell-uuid',
                             required=True, help='The cell uuid.')
_OPTIONAL_CELL_UUID = common.argument(
    'cell_uuid', '--cell_uuid', '--cell-uuid', default=None,
    help='Only this cell (default: every cell).')
_TRANSPORT_URL = common.argument(
    'transport_url', '--transport-url', '--transport_url', default=None,
    help='The cell\'s message queue URL (may be a template); default: '
         '[DEFAULT] transport_url.')
_VERBOSE = common.argument('verbose', '--verbose', action='store_true',
                           help='Say more.')


CATEGORY = common.Category('cell_v2', 'Cells v2 mappings (as Nova\'s).', [
    common.Action(
        'map_cell0', map_cell0,
        'Map cell0, where instances that fail to schedule go. Exit 0 '
        'mapped or already mapped; 1 invalid database URL.',
        [common.argument(
            'database_connection', '--database_connection',
            '--database-connection', default=None,
            help='cell0\'s database URL; default: [database] connection '
                 'with _cell0 added to the database name.')]),
    common.Action(
        'simple_cell_setup', simple_cell_setup,
        'Map cell0 and sync its schema, map the local database as a cell '
        'with its hosts and instances. Exit 0 done; 1 transport URL '
        'missing/invalid or no hosts; 2 a host is mapped to another cell; '
        '3 the cell database could not be read.', [_TRANSPORT_URL]),
    common.Action(
        'create_cell', create_cell,
        'Create a cell mapping. Exit 0 created; 1 a URL is missing or '
        'invalid; 2 another cell uses that database.',
        [common.argument('name', '--name', default=None,
                         help='A name for the cell.'),
         _TRANSPORT_URL,
         common.argument(
             'database_connection', '--database_connection',
             '--database-connection', default=None,
             help='The cell\'s main database URL (may be a template); '
                  'default: [database] connection.'),
         common.argument('disabled', '--disabled', action='store_true',
                         help='Create it disabled (not scheduled to).'),
         common.argument('verbose', '--verbose', action='store_true',
                         help='Print the new cell\'s uuid.')]),
    common.Action(
        'update_cell', update_cell,
        'Change only the given properties of a cell (an omitted URL is '
        'kept, never replaced by this node\'s). Exit 0 updated; 1 no such '
        'cell; 2 invalid URL; 3 database used by another cell; 4 '
        '--disable with --enable; 5 cell0 cannot be enabled/disabled.',
        [_CELL_UUID,
         common.argument('name', '--name', default=None, help='New name.'),
         common.argument('transport_url', '--transport-url',
                         '--transport_url', default=None,
                         help='New message queue URL.'),
         common.argument('database_connection', '--database_connection',
                         '--database-connection', default=None,
                         help='New main database URL.'),
         common.argument('disable', '--disable', action='store_true',
                         help='Stop scheduling to the cell.'),
         common.argument('enable', '--enable', action='store_true',
                         help='Schedule to the cell again.')]),
    common.Action(
        'delete_cell', delete_cell,
        'Delete a cell and its mappings in one transaction. Exit 0 '
        'deleted; 1 no such cell; 2 hosts mapped (--force); 3 live '
        'instances; 4 mappings of deleted instances (--force); 5 cell0 '
        'without --force-cell0.',
        [_CELL_UUID,
         common.argument('force', '--force', action='store_true',
                         help='Also delete its host mappings and the '
                              'mappings of its deleted instances.'),
         common.argument('force_cell0', '--force-cell0', action='store_true',
                         help='Allow deleting cell0.')]),
    common.Action(
        'list_cells', list_cells,
        'List cells, passwords masked. Exit 0.',
        [common.argument('verbose', '--verbose', action='store_true',
                         help='Show passwords.'),
         common.argument('output_format', '--format', default='table',
                         choices=('table', 'json'),
                         help='table (default) or json for scripts.')]),
    common.Action(
        'map_cell_and_hosts', map_cell_and_hosts,
        'Map the local database as a cell (reused if mapped) and its '
        'hosts. Exit 0 done; 1 transport URL missing or invalid; 2 a host '
        'is mapped to another cell; 3 the cell database could not be '
        'read.',
        [_TRANSPORT_URL,
         common.argument('name', '--name', default=None,
                         help='A name for the cell.'),
         _VERBOSE]),
    common.Action(
        'map_instances', map_instances,
        'Map the instances of a cell, resuming where the last run '
        'stopped. Exit 0 all mapped; 1 --max-count reached, more remain; '
        '127 invalid --max-count/--batch-size or no such cell.',
        [_CELL_UUID,
         common.argument('max_count', '--max-count', '--max_count',
                         default=None,
                         help='Examine at most this many instances now.'),
         common.argument('reset', '--reset', action='store_true',
                         help='Start from the first instance again.'),
         common.argument('batch_size', '--batch-size', default=None,
                         help='Instances per transaction (default %d).' %
                              instances_admin.DEFAULT_BATCH_SIZE)]),
    common.Action(
        'verify_instance', verify_instance,
        'Check an instance\'s mapping. Exit 0 mapped; 1 not mapped; 2 no '
        'cell yet; 3 deleted; 4 archived (mapping remains).',
        [common.argument('uuid', '--uuid', required=True,
                         help='The instance uuid.'),
         common.argument('quiet', '--quiet', action='store_true',
                         help='Print nothing; exit code only.')]),
    common.Action(
        'discover_hosts', discover_hosts,
        'Map compute hosts not mapped yet; safe to run concurrently. Exit '
        '0 done; 1 --strict and none mapped; 2 a host is mapped to '
        'another cell; 3 a cell could not be read; 127 no such cell.',
        [_OPTIONAL_CELL_UUID, _VERBOSE,
         common.argument('strict', '--strict', action='store_true',
                         help='Exit 1 if this run mapped no host.'),
         common.argument('by_service', '--by-service', '--by_service',
                         action='store_true',
                         help='Find hosts by nova-compute service, not '
                              'by compute node.')]),
    common.Action(
        'list_hosts', list_hosts,
        'List mapped hosts. Exit 0; 1 no such cell.', [_OPTIONAL_CELL_UUID]),
    common.Action(
        'delete_host', delete_host,
        'Delete a host\'s mapping. Exit 0 deleted; 1 no such cell; 2 host '
        'not mapped; 3 host in another cell; 4 instances on the host.',
        [_CELL_UUID,
         common.argument('host', '--host', required=True,
                         help='The host name.')]),
])


# -- db sync --all-cells (called by nova_cells.cmd.db) ------------------------

def _report_cell_sync(outcome: database_sync.CellSync) -> None:
    if outcome.ok:
        print('%s %s: at revision %s' % (outcome.target, outcome.url,
                                         outcome.revision), flush=True)
    else:
        _error('%s %s: %s' % (outcome.target, outcome.url, outcome.error))


def db_sync_all_cells(version: str | None = None) -> int:
    """Migrate the local main database and every mapped cell's; one line
    each. Exit 0 when every one succeeded, 1 when any failed (named on
    stderr); the others are migrated regardless."""
    outcomes = database_sync.sync_all_cells(_context(), version,
                                            report=_report_cell_sync)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        _error('%d of %d databases failed to migrate.' % (len(failed),
                                                           len(outcomes)))
        return common.EXIT_FAILURE
    return common.EXIT_SUCCESS
