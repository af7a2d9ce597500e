"""``nova-cells-manage db``: the schema of the local main (cell) database,
and with ``sync --all-cells`` of every mapped cell's."""

from nova_cells import context as nova_context
from nova_cells.cells_admin import database_sync
from nova_cells.cmd import api_db
from nova_cells.cmd import common
from nova_cells.cmd import preflight
from nova_cells.db import migration

__all__ = ['CATEGORY', 'sync']


def _report_cell_sync(outcome: database_sync.CellSync) -> None:
    if outcome.ok:
        print('%s %s: at revision %s' % (outcome.target, outcome.url,
                                         outcome.revision), flush=True)
    else:
        common.print_error('%s %s: %s' % (outcome.target, outcome.url,
                                          outcome.error))


def _sync_all_cells(version: str | None) -> int:
    """Migrate the local main database and every mapped cell's; one line
    each. Exit 0 when every one succeeded, 1 when any failed (named on
    stderr); the others are migrated regardless."""
    outcomes = database_sync.sync_all_cells(
        nova_context.get_admin_context(), version, report=_report_cell_sync)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        common.print_error('%d of %d databases failed to migrate.' % (
            len(failed), len(outcomes)))
        return common.EXIT_FAILURE
    return common.EXIT_SUCCESS


def sync(version: str | None = None, all_cells: bool = False) -> int | None:
    """Upgrade the [database] schema to ``version`` (default: newest);
    with ``all_cells``, also every mapped cell's."""
    if all_cells:
        # The cells come from the API database, which must be one this
        # code can read and trusts to name them.
        preflight.check_api_database(preflight.WRITES)
        return _sync_all_cells(version)
    migration.db_sync(version, database=migration.MAIN)
    return None


CATEGORY = common.Category(
    'db', 'The schema of the main database named by [database]/connection.',
    [
        common.Action(
            'sync', sync,
            'Upgrade the main database schema to the newest revision, or '
            'to VERSION. Adopts a database Nova created; never downgrades.',
            [api_db.VERSION_ARGUMENT,
             common.argument(
                 'all_cells', '--all-cells', action='store_true',
                 help='Also migrate the main database of every mapped cell '
                      '(cell0 included), one line each; a cell that fails '
                      'does not stop the others.')],
            [api_db.SYNC_EXIT_CODES[0],
             common.exit_code(1, api_db.SYNC_FAILED + '; with --all-cells, '
                                 'any database failed')]),
        api_db.version_action(migration.MAIN, 'main database'),
    ])
