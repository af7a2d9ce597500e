"""``nova-cells-manage cell_v2 check_cells``: is every cell healthy?

Exit 0 when every cell checked is healthy, 1 when any is not (the reason
is printed per cell), 127 when ``--cell_uuid`` names no cell.

Each cell's row also gives the connections its database server has open
to it (every process's; ``connections`` in a JSON record), and the table
ends with their total and the budget each process works within
(``[cell_database] max_total_connections``). Not this command's own
connection figures: a one-shot command holds none worth showing; a
running service reads its own (open per cell, evictions) from
``connection_stats()`` of the registry. The checks run in parallel
within one timeout (see :mod:`nova_cells.cells_admin.health_check`), so
the command finishes within that timeout and a second even with hung
cells. URLs are never printed, so neither are passwords.
"""

import json
import sys

from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells.cells_admin import health_check
from nova_cells.cmd import common
from nova_cells.cmd import preflight

__all__ = [
    'ACTION',
    'EXIT_NO_SUCH_CELL',
    'check_cells',
]

EXIT_NO_SUCH_CELL = 127

_HEADERS = ('Name', 'UUID', 'Database', 'Round trip', 'Schema',
            'Connections', 'Instances', 'Hosts', 'Disabled',
            'Message queue', 'Status')


def _row(health: health_check.CellHealth) -> list:
    round_trip = ('%.1f ms' % health.round_trip_ms
                  if health.round_trip_ms is not None else '-')
    status = 'ok' if health.healthy else '; '.join(health.problems)
    held = '-' if health.connections is None else health.connections
    return [health.name or '', health.uuid, health.database, round_trip,
            health.schema, held, health.instances, health.hosts,
            health.disabled, health.message_queue, status]


def _summary(results: list, cap: int) -> str:
    counted = [health.connections for health in results
               if health.connections is not None]
    on_servers = ('%d on their servers' % sum(counted) if counted else
                  'not counted on their servers (SQLite or not allowed)')
    return ('Connections to cell databases: %s; each process may hold at '
            'most %s ([cell_database] max_total_connections).' % (
                on_servers, cap if cap else 'any number (0 = no cap)'))


def check_cells(cell_uuid: str | None = None, output_format: str = 'table',
                timeout: str | None = None) -> int:
    if timeout is not None:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            print('ERROR: --timeout must be a positive number of seconds, '
                  'not %r.' % timeout, file=sys.stderr)
            return common.EXIT_USAGE
    else:
        seconds = None
    results = health_check.check_cells(
        nova_context.get_admin_context(), cell_uuid, seconds)
    if output_format == 'json':
        print(json.dumps([health.as_dict() for health in results],
                         indent=2, sort_keys=True))
    else:
        print(common.table(_HEADERS, [_row(health) for health in results]))
        print(_summary(results, connections.get_registry().conf
                       .cell_database.max_total_connections))
    unhealthy = [health for health in results if not health.healthy]
    return common.EXIT_FAILURE if unhealthy else common.EXIT_SUCCESS


ACTION = common.Action(
    'check_cells', check_cells,
    'Check every cell (database reachable and round trip, schema, '
    'connections open to its database, mapped instances and hosts, '
    'disabled, message queue) in parallel within one timeout; the reason '
    'is printed per cell.',
    [common.argument('cell_uuid', '--cell_uuid', '--cell-uuid',
                     default=None, type=common.non_empty,
                     help='Only this cell (default: every cell; an empty '
                          'value is refused).'),
     common.argument('output_format', '--format', default='table',
                     choices=('table', 'json'),
                     help='table (default) or json for scripts.'),
     common.argument('timeout', '--timeout', default=None,
                     help='Seconds to wait for all cells (default: '
                          '[cell_database] connect_timeout + 1).')],
    [common.exit_code(common.EXIT_SUCCESS, 'every cell checked is healthy'),
     common.exit_code(common.EXIT_FAILURE, 'at least one cell is not'),
     common.exit_code(common.EXIT_USAGE, '--timeout is not a positive '
                      'number'),
     common.exit_code(EXIT_NO_SUCH_CELL, '(not in Nova) no such cell',
                      exception.CellMappingNotFound)],
    api_database=preflight.READS)
