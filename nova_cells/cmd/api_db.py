"""``nova-cells-manage api_db``: the schema of the API database."""

from nova_cells.cmd import common
from nova_cells.db import migration


def sync(version: str | None = None) -> int:
    """Upgrade the API database schema to ``version`` (default: newest)."""
    migration.db_sync(version, database=migration.API)
    return common.EXIT_SUCCESS


def version() -> int:
    """Print the API database's current schema revision."""
    print(migration.db_version(database=migration.API))
    return common.EXIT_SUCCESS


CATEGORY = common.Category(
    'api_db', 'The schema of the API database.', [
        common.Action(
            'sync', sync,
            'Upgrade the API database schema to the newest revision, or to '
            'VERSION. Adopts a database Nova created; never downgrades.',
            [common.argument('version', nargs='?', default=None,
                             help='A revision id (or a unique prefix of '
                                  'one); default: the newest.')]),
        common.Action('version', version,
                      'Print the current API database schema revision.'),
    ])
