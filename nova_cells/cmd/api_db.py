"""``nova-cells-manage api_db``: the schema of the API database.

Also the parts of a schema category that ``db`` shares: the ``version``
action and the ``sync`` argument and exit codes.
"""

from collections.abc import Sequence

from nova_cells.cmd import common
from nova_cells.db import migration

__all__ = ['CATEGORY', 'SYNC_EXIT_CODES', 'SYNC_FAILED', 'VERSION_ARGUMENT',
           'sync', 'version_action']

VERSION_ARGUMENT = common.argument(
    'version', nargs='?', default=None,
    help='A revision id (or a unique prefix of one); default: the newest.')

SYNC_FAILED = ('unknown VERSION, downgrade refused, database unreachable '
               'or its URL unusable, or a schema this project will not '
               'touch')

SYNC_EXIT_CODES: Sequence[common.ExitCode] = (
    common.exit_code(0, 'the database is at VERSION'),
    common.exit_code(1, SYNC_FAILED))


def version_action(database: str, label: str) -> common.Action:
    """``version``: print ``database``'s current schema revision."""
    def version() -> None:
        print(migration.db_version(database=database))
    return common.Action(
        'version', version, 'Print the current %s schema revision.' % label,
        (), [common.exit_code(0, 'printed'),
             common.exit_code(1, 'database unreachable or its URL '
                                 'unusable')])


def sync(version: str | None = None) -> None:
    """Upgrade the API database schema to ``version`` (default: newest)."""
    migration.db_sync(version, database=migration.API)


CATEGORY = common.Category(
    'api_db', 'The schema of the API database.', [
        common.Action(
            'sync', sync,
            'Upgrade the API database schema to the newest revision, or to '
            'VERSION. Adopts a database Nova created; never downgrades.',
            [VERSION_ARGUMENT], SYNC_EXIT_CODES),
        version_action(migration.API, 'API database'),
    ])
