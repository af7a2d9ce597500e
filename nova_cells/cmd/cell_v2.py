"""``nova-cells-manage cell_v2``: Nova's cells v2 operator commands.

This module declares the actions; their handlers
(:mod:`nova_cells.cmd.cell_v2_handlers`, whose names it offers too) only
call :mod:`nova_cells.cells_admin` and print. Each action's exit codes are
declared once, with the action in :data:`CATEGORY` (number, meaning, the
exceptions that lead to it); the one catch-all in
:mod:`nova_cells.cmd.manage` turns an exception into its declared code,
``--help`` prints them, and the table below is generated from them.
Errors are one line on stderr (passwords masked); ``--debug`` adds the
traceback. Usage errors (a missing required option) exit 2, as argparse
does; an error no action declares exits 1.

"""

from nova_cells import exception
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.cmd import cell_v2_handlers as handlers
from nova_cells.cmd import check_cells
from nova_cells.cmd import common
from nova_cells.cmd import preflight

# This module offers the handlers' names, as it did before they moved.
from nova_cells.cmd.cell_v2_handlers import *  # noqa: F403

__all__ = ['CATEGORY', *handlers.__all__]

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
        'map_cell0', handlers.map_cell0,
        'Map cell0, where instances that fail to schedule go.',
        [common.argument(
            'database_connection', '--database_connection',
            '--database-connection', default=None,
            help='cell0\'s database URL; default: [database] connection '
                 'with _cell0 added to the database name.')],
        [_code(0, 'cell0 mapped (or already was)'),
         _code(1, '(not in Nova) its database URL is invalid or cannot be '
                  'derived, or another cell uses that database',
             *handlers.URL_ERRORS, exception.CellDatabaseInUse)],
        api_database=preflight.WRITES),
    common.Action(
        'simple_cell_setup', handlers.simple_cell_setup,
        'Map cell0 and sync its schema, map the local database as a cell '
        'with its hosts and instances.', [_TRANSPORT_URL],
        [_code(0, 'done (or already done)'),
         _code(1, 'transport URL missing or invalid, or no compute host '
                'reports to the local database', *handlers.URL_ERRORS),
         *_DISCOVERY_CODES],
        api_database=preflight.WRITES),
    common.Action(
        'create_cell', handlers.create_cell, 'Create a cell mapping.',
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
                'filled here)', *handlers.URL_ERRORS),
         _code(2, 'another cell already uses that database or that '
                'message queue (Nova: that transport URL and database '
                'pair)', exception.CellDatabaseInUse,
             exception.CellQueueInUse)],
        api_database=preflight.WRITES),
    common.Action(
        'update_cell', handlers.update_cell,
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
             *handlers.URL_ERRORS),
         _code(3, 'another cell uses that database or message queue',
             exception.CellDatabaseInUse, exception.CellQueueInUse),
         _code(4, '--disable with --enable', exception.InvalidCellState),
         _code(5, 'enabling or disabling cell0', exception.Cell0StateChange)],
        api_database=preflight.WRITES),
    common.Action(
        'delete_cell', handlers.delete_cell,
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
        'list_cells', handlers.list_cells, 'List cells, passwords masked.',
        [common.argument('verbose', '--verbose', action='store_true',
                         help='Show passwords.'),
         common.argument('output_format', '--format', default='table',
                         choices=('table', 'json'),
                         help='table (default) or json for scripts.')],
        [_code(0, 'listed')],
        api_database=preflight.READS),
    common.Action(
        'map_cell_and_hosts', handlers.map_cell_and_hosts,
        'Map the local database as a cell (reused if mapped) and its '
        'hosts.',
        [_TRANSPORT_URL,
         common.argument('name', '--name', default=None,
                         help='A name for the cell.'),
         _VERBOSE],
        [_code(0, 'done (also when no host reports)'),
         _code(1, 'transport URL missing or invalid', *handlers.URL_ERRORS),
         *_DISCOVERY_CODES],
        api_database=preflight.WRITES),
    common.Action(
        'map_instances', handlers.map_instances,
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
         _code(handlers.EXIT_INVALID, '--max-count or --batch-size below 1, '
               'or no such cell (Nova: 127 for --max-count only)',
             exception.InvalidMaxCount, exception.CellMappingNotFound)],
        api_database=preflight.WRITES),
    common.Action(
        'verify_instance', handlers.verify_instance,
        'Check an instance\'s mapping.',
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
        'discover_hosts', handlers.discover_hosts,
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
         _code(handlers.EXIT_INVALID, '(not in Nova) no such cell',
             exception.CellMappingNotFound)],
        api_database=preflight.WRITES),
    common.Action(
        'list_hosts', handlers.list_hosts, 'List mapped hosts.',
        [_OPTIONAL_CELL_UUID],
        [_code(0, 'listed'),
         _code(1, 'no such cell', exception.CellMappingNotFound)],
        api_database=preflight.READS),
    common.Action(
        'delete_host', handlers.delete_host, 'Delete a host\'s mapping.',
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
