"""What each ``nova-cells-manage cell_v2`` action does: call
:mod:`nova_cells.cells_admin` and print.

Each function is one action's handler: it takes the parsed arguments as
keywords, prints what the operator reads and returns the exit code (None
for success). The actions' arguments and exit codes are declared in
:mod:`nova_cells.cmd.cell_v2`, which also offers these names.
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
from nova_cells.cmd import common

__all__ = [
    'EXIT_INVALID',
    'URL_ERRORS',
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

#: The errors of a cell URL or name given on the command line.
URL_ERRORS: tuple[type, ...] = (exception.MissingCellURL,
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
