"""``nova-cells-manage cell_v2``: Nova's cells v2 operator commands.

This module only parses arguments, calls :mod:`nova_cells.cells_admin` and
prints. Each action's exit codes are declared once, with the action in
:data:`CATEGORY` (number, meaning, the exceptions that lead to it); the
one catch-all in :mod:`nova_cells.cmd.manage` turns an exception into its
declared code, ``--help`` prints them, and the table below is generated
from them. Errors are one line on stderr (passwords masked); ``--debug``
adds the traceback. Usage errors (a missing required option) exit 2, as
argparse does; an error no action declares exits 1.

"""

import json
from collections.abc import Callable
from typing import Any

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import urls
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.cells_admin import simple_setup as setup_admin
from nova_cells.cmd import check_cells
from nova_cells.cmd import common
from nova_cells.cmd import preflight

__all__ = [
    'CATEGORY',
    'EXIT_INVALID',
    'create_cell',
    'delete_cell',
    'delete_host',
    'discover_hosts',
    'list_cells',
    'list_hosts',
    'map_cell0',
    'map_cell_and_hosts',
    'map_instances',
    'simple_cell_setup',
    'update_cell',
    'verify_instance',
]

EXIT_INVALID = 127

_URL_ERRORS: tuple[type, ...] = (exception.MissingCellURL,
                                 exception.InvalidCellURL,
                                 exception.CellURLTemplateError,
                                 exception.InvalidCellName)


def _context() -> nova_context.RequestContext:
    return nova_context.get_admin_context()


# -- cells --------------------------------------------------------------------

def map_cell0(database_connection: str | None = None) -> None:
    _cell0, created = cells_admin.map_cell0(
        _context(), database_connection, warn=common.print_warning)
    if not created:
        print('Cell0 is already setup')


def create_cell(name: str | None = None, transport_url: str | None = None,
                database_connection: str | None = None,
                disabled: bool = False, verbose: bool = False) -> None:
    cell = cells_admin.create_cell(
        _context(), name=name, transport_url=transport_url,
        database_connection=database_connection, disabled=disabled,
        warn=common.print_warning)
    if verbose:
        print(cell.uuid)


def update_cell(cell_uuid: str, name: str | None = None,
                transport_url: str | None = None,
                database_connection: str | None = None,
                disable: bool = False, enable: bool = False) -> None:
    update = cells_admin.update_cell(
        _context(), cell_uuid, name=name, transport_url=transport_url,
        database_connection=database_connection, disable=disable,
        enable=enable, warn=common.print_warning)
    for note in update.notes:
        print(note)


def delete_cell(cell_uuid: str, force: bool = False,
                force_cell0: bool = False) -> None:
    cells_admin.delete_cell(_context(), cell_uuid, force=force,
                            force_cell0=force_cell0)


def _cell_record(cell, verbose: bool) -> dict[str, Any]:
    def shown(field: str) -> str:
        value = getattr(cell, field)
        return value if verbose else urls.mask_url(value)
    return {'name': cell.name, 'uuid': cell.uuid,
            'transport_url': shown('transport_url'),
            'database_connection': shown('database_connection'),
            'disabled': bool(cell.disabled)}


def list_cells(verbose: bool = False, output_format: str = 'table') -> None:
    records = [_cell_record(cell, verbose)
               for cell in cells_admin.list_cells(_context())]
    if output_format == 'json':
        print(json.dumps(records, indent=2))
        return
    print(common.table(
        ['Name', 'UUID', 'Transport URL', 'Database Connection', 'Disabled'],
        [[record['name'] or '', record['uuid'], record['transport_url'],
          record['database_connection'], record['disabled']]
         for record in records]))


# -- hosts --------------------------------------------------------------------

def _report_discovery(discovery: hosts_admin.Discovery) -> int:
    for conflict in discovery.conflicts:
        common.print_error(
            'host %s, found in cell %s, is already mapped to cell %s; it '
            'was left alone' % (conflict.host, conflict.cell,
                                conflict.mapped_cell))
    for cell, reason in discovery.failed_cells:
        common.print_error('cell %s could not be searched: %s' % (
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
    discovery = hosts_admin.discover_hosts(
        _context(), cell_uuid=cell_uuid, by_service=by_service,
        status=_status(verbose))
    if verbose and discovery.already_mapped:
        print('%d host(s) were already mapped.' %
              len(discovery.already_mapped))
    code = _report_discovery(discovery)
    if code == common.EXIT_SUCCESS and strict and not discovery.mapped:
        common.print_error('--strict: this run mapped no host.')
        return 1
    return code


def list_hosts(cell_uuid: str | None = None) -> None:
    rows = hosts_admin.list_hosts(_context(), cell_uuid)
    print(common.table(['Cell Name', 'Cell UUID', 'Hostname'],
                       [[row.cell_name or '', row.cell_uuid, row.host]
                        for row in rows]))


def delete_host(cell_uuid: str, host: str) -> None:
    hosts_admin.delete_host(_context(), cell_uuid, host)


def map_cell_and_hosts(transport_url: str | None = None,
                       name: str | None = None,
                       verbose: bool = False) -> int:
    outcome = setup_admin.map_cell_and_hosts(
        _context(), transport_url=transport_url, name=name,
        status=_status(verbose))
    if outcome.cell is None:
        print('No hosts found to map to cell, exiting.')
        return common.EXIT_SUCCESS
    if verbose:
        print(outcome.cell.uuid)
    return _report_discovery(outcome.discovery)


def simple_cell_setup(transport_url: str | None = None) -> int:
    outcome = setup_admin.simple_cell_setup(_context(),
                                            transport_url=transport_url)
    if not outcome.cell0_created:
        print('Cell0 is already setup')
    if outcome.cell0_sync_error:
        common.print_error('unable to sync the cell0 schema: %s' %
                           common.error_line(
                               Exception(outcome.cell0_sync_error)))
    if outcome.cell_and_hosts.cell is None:
        print('No hosts found to map to cell, exiting.')
        return 1
    return _report_discovery(outcome.cell_and_hosts.discovery)


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
        value = int(text)
    except ValueError:
        raise exception.InvalidMaxCount(option=option,
                                        value=repr(text)) from None
    if value > _MAX_COUNT:
        # Beyond what a database LIMIT takes: the driver would fail with
        # an overflow deep inside oslo.db.
        raise exception.InvalidMaxCount(option=option,
                                        value='more than %d' % _MAX_COUNT)
    return value


#: The largest --max-count / --batch-size (a signed 32-bit LIMIT).
_MAX_COUNT = 2 ** 31 - 1


def map_instances(cell_uuid: str, max_count: str | None = None,
                  reset: bool = False, batch_size: str | None = None) -> int:
    size = _count('--batch-size', batch_size)
    result = instances_admin.map_instances(
        _context(), cell_uuid, max_count=_count('--max-count', max_count),
        reset=reset,
        batch_size=(instances_admin.DEFAULT_BATCH_SIZE if size is None
                    else size),
        progress=_print_progress)
    if result.resumed_after:
        print('Resumed after instance id %d.' % result.resumed_after)
    print('%d instances examined in cell %s: %d mapped, %d already '
          'mapped.' % (result.examined, result.cell, result.mapped,
                       result.already_mapped))
    if result.unmappable:
        common.print_warning(
            '%d instance(s) have no project_id and were not mapped: %s' % (
                len(result.unmappable), ', '.join(result.unmappable[:10])))
    if result.more_remaining:
        print('More instances remain; run map_instances again to continue.')
        return 1
    return common.EXIT_SUCCESS


def verify_instance(uuid: str, quiet: bool = False) -> int:
    verification = instances_admin.verify_instance(_context(), uuid)
    if not quiet:
        print(verification.message)
    return int(verification.status)


# -- the category -------------------------------------------------------------

_CELL_UUID = common.argument('cell_uuid', '--cell_uuid', '--cell-uuid',
                             required=True, type=common.non_empty,
                             help='The cell uuid.')
_OPTIONAL_CELL_UUID = common.argument(
    'cell_uuid', '--cell_uuid', '--cell-uuid', default=None,
    type=common.non_empty,
    help='Only this cell (default: every cell; an empty value is refused).')
_TRANSPORT_URL = common.argument(
    'transport_url', '--transport-url', '--transport_url', default=None,
    help='The cell\'s message queue URL (may be a template); default: '
         '[DEFAULT] transport_url.')
_VERBOSE = common.argument('verbose', '--verbose', action='store_true',
                           help='Say more.')


_code = common.exit_code
_DISCOVERY_CODES = (
    _code(2, 'a host is mapped to another cell (left alone, the others were '
           'mapped)'),
    _code(3, '(not in Nova) a cell\'s database could not be read (the '
             'others were discovered)'))


CATEGORY = common.Category('cell_v2', 'Cells v2 mappings (as Nova\'s).', [
    common.Action(
        'map_cell0', map_cell0,
        'Map cell0, where instances that fail to schedule go.',
        [common.argument(
            'database_connection', '--database_connection',
            '--database-connection', default=None,
            help='cell0\'s database URL; default: [database] connection '
                 'with _cell0 added to the database name.')],
        [_code(0, 'cell0 mapped (or already was)'),
         _code(1, '(not in Nova) its database URL is invalid or cannot be '
                  'derived, or another cell uses that database',
             *_URL_ERRORS, exception.CellDatabaseInUse)],
        api_database=preflight.WRITES),
    common.Action(
        'simple_cell_setup', simple_cell_setup,
        'Map cell0 and sync its schema, map the local database as a cell '
        'with its hosts and instances.', [_TRANSPORT_URL],
        [_code(0, 'done (or already done)'),
         _code(1, 'transport URL missing or invalid, or no compute host '
                'reports to the local database', *_URL_ERRORS),
         *_DISCOVERY_CODES],
        api_database=preflight.WRITES),
    common.Action(
        'create_cell', create_cell, 'Create a cell mapping.',
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
                         help='Print the new cell\'s uuid.')],
        [_code(0, 'created'),
         _code(1, 'a URL is missing or invalid (or a template cannot be '
                'filled here)', *_URL_ERRORS),
         _code(2, 'another cell already uses that database or that '
                'message queue (Nova: that transport URL and database '
                'pair)', exception.CellDatabaseInUse,
             exception.CellQueueInUse)],
        api_database=preflight.WRITES),
    common.Action(
        'update_cell', update_cell,
        'Change only the given properties of a cell (an omitted URL is '
        'kept, never replaced by this node\'s).',
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
                         help='Schedule to the cell again.')],
        [_code(0, 'updated'),
         _code(1, 'no such cell', exception.CellMappingNotFound),
         _code(2, 'a URL is invalid (or a template cannot be filled here)',
             *_URL_ERRORS),
         _code(3, 'another cell uses that database or message queue',
             exception.CellDatabaseInUse, exception.CellQueueInUse),
         _code(4, '--disable with --enable', exception.InvalidCellState),
         _code(5, 'enabling or disabling cell0', exception.Cell0StateChange)],
        api_database=preflight.WRITES),
    common.Action(
        'delete_cell', delete_cell,
        'Delete a cell and its mappings in one transaction.',
        [_CELL_UUID,
         common.argument('force', '--force', action='store_true',
                         help='Also delete its host mappings and the '
                              'mappings of its deleted instances.'),
         common.argument('force_cell0', '--force-cell0', action='store_true',
                         help='Allow deleting cell0.')],
        [_code(0, 'deleted'),
         _code(1, 'no such cell', exception.CellMappingNotFound),
         _code(2, 'hosts are mapped (use --force)', exception.CellHasHosts),
         _code(3, 'live instances are in the cell',
             exception.CellHasInstances),
         _code(4, 'mappings of deleted instances remain (use --force)',
             exception.CellHasInstanceMappings),
         _code(5, '(not in Nova) cell0 without --force-cell0',
             exception.Cell0DeletionRefused),
         _code(6, '(not in Nova) instances mapped to the cell are not in '
                  'its database at all (a wrong database URL?)',
             exception.CellDatabaseMismatch)],
        api_database=preflight.WRITES),
    common.Action(
        'list_cells', list_cells, 'List cells, passwords masked.',
        [common.argument('verbose', '--verbose', action='store_true',
                         help='Show passwords.'),
         common.argument('output_format', '--format', default='table',
                         choices=('table', 'json'),
                         help='table (default) or json for scripts.')],
        [_code(0, 'listed')],
        api_database=preflight.READS),
    common.Action(
        'map_cell_and_hosts', map_cell_and_hosts,
        'Map the local database as a cell (reused if mapped) and its '
        'hosts.',
        [_TRANSPORT_URL,
         common.argument('name', '--name', default=None,
                         help='A name for the cell.'),
         _VERBOSE],
        [_code(0, 'done (also when no host reports)'),
         _code(1, 'transport URL missing or invalid', *_URL_ERRORS),
         *_DISCOVERY_CODES],
        api_database=preflight.WRITES),
    common.Action(
        'map_instances', map_instances,
        'Map the instances of a cell, resuming where the last run '
        'stopped.',
        [_CELL_UUID,
         common.argument('max_count', '--max-count', '--max_count',
                         default=None,
                         help='Examine at most this many instances now.'),
         common.argument('reset', '--reset', action='store_true',
                         help='Start from the first instance again.'),
         common.argument('batch_size', '--batch-size', default=None,
                         help='Instances per transaction (default %d).' %
                              instances_admin.DEFAULT_BATCH_SIZE)],
        [_code(0, 'every instance is mapped'),
         _code(1, '--max-count was reached and more remain (run again to '
                'resume)'),
         _code(EXIT_INVALID, '--max-count or --batch-size below 1, or no such '
                           'cell (Nova: 127 for --max-count only)',
             exception.InvalidMaxCount, exception.CellMappingNotFound)],
        api_database=preflight.WRITES),
    common.Action(
        'verify_instance', verify_instance, 'Check an instance\'s mapping.',
        [common.argument('uuid', '--uuid', required=True,
                         help='The instance uuid.'),
         common.argument('quiet', '--quiet', action='store_true',
                         help='Print nothing; exit code only.')],
        [_code(int(status), meaning) for status, meaning in (
            (instances_admin.InstanceStatus.MAPPED, 'mapped to a cell'),
            (instances_admin.InstanceStatus.NOT_MAPPED,
             'no instance mapping'),
            (instances_admin.InstanceStatus.NO_CELL,
             'mapped to no cell yet'),
            (instances_admin.InstanceStatus.DELETED,
             'deleted in its cell, the mapping remains'),
            (instances_admin.InstanceStatus.ARCHIVED,
             'archived, the mapping remains'))],
        api_database=preflight.READS),
    common.Action(
        'discover_hosts', discover_hosts,
        'Map compute hosts not mapped yet; safe to run concurrently (when '
        'several of exit codes 1-3 apply, the highest is returned).',
        [_OPTIONAL_CELL_UUID, _VERBOSE,
         common.argument('strict', '--strict', action='store_true',
                         help='Exit 1 if this run mapped no host.'),
         common.argument('by_service', '--by-service', '--by_service',
                         action='store_true',
                         help='Find hosts by nova-compute service, not '
                              'by compute node.')],
        [_code(0, 'done (hosts mapped concurrently by another run '
                'included)'),
         _code(1, '--strict and this run mapped no host'),
         *_DISCOVERY_CODES,
         _code(EXIT_INVALID, '(not in Nova) no such cell',
             exception.CellMappingNotFound)],
        api_database=preflight.WRITES),
    common.Action(
        'list_hosts', list_hosts, 'List mapped hosts.',
        [_OPTIONAL_CELL_UUID],
        [_code(0, 'listed'),
         _code(1, 'no such cell', exception.CellMappingNotFound)],
        api_database=preflight.READS),
    common.Action(
        'delete_host', delete_host, 'Delete a host\'s mapping.',
        [_CELL_UUID,
         common.argument('host', '--host', required=True,
                         help='The host name.')],
        [_code(0, 'deleted'),
         _code(1, 'no such cell', exception.CellMappingNotFound),
         _code(2, 'host not mapped', exception.HostMappingNotFound),
         _code(3, 'host mapped to another cell', exception.HostNotInCell),
         _code(4, 'instances on it', exception.HostHasInstances)],
        api_database=preflight.WRITES),
    check_cells.ACTION,
])

__doc__ += common.exit_code_table(CATEGORY)
