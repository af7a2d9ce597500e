"""``nova-cells-manage db``: the schema of the local main (cell) database."""

from nova_cells.cmd import cell_v2
from nova_cells.cmd import common
from nova_cells.db import migration


def sync(version: str | None = None, all_cells: bool = False) -> int:
    """Upgrade the [database] schema to ``version`` (default: newest);
    with ``all_cells``, also every mapped cell's (see cell_v2)."""
    if all_cells:
        return cell_v2.db_sync_all_cells(version)
    migration.db_sync(version, database=migration.MAIN)
    return common.EXIT_SUCCESS


def version() -> int:
    """Print the [database] database's current schema revision."""
    print(migration.db_version(database=migration.MAIN))
    return common.EXIT_SUCCESS


CATEGORY = common.Category(
    'db', 'The schema of the main database named by [database]/connection.',
    [
        common.Action(
            'sync', sync,
            'Upgrade the main database schema to the newest revision, or '
            'to VERSION. Adopts a database Nova created; never downgrades.',
            [common.argument('version', nargs='?', default=None,
                             help='A revision id (or a unique prefix of '
                                  'one); default: the newest.'),
             common.argument(
                 'all_cells', '--all-cells', action='store_true',
                 help='Also migrate the main database of every mapped cell '
                      '(cell0 included), one line each; a cell that fails '
                      'does not stop the others. Exit 1 if any failed.')]),
        common.Action('version', version,
                      'Print the current main database schema revision.'),
    ])
