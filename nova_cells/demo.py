"""The main job, runnable with ``make demo`` (``python -m nova_cells.demo``).

With no config file it works on the embedded SQLite default under
``state_path``: it creates (or upgrades) the API database and the local main
database and prints where they are and the revision each is at. Running it
again is safe: migrations are idempotent.
"""

import sys

from nova_cells import config
from nova_cells.conf import CONF
from nova_cells.db import migration
from nova_cells.masking import mask_url


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    config.parse_args(argv)
    print('nova_cells demo: state_path = %s' % CONF.state_path)
    for database, group in (('api', CONF.api_database),
                            ('main', CONF.database)):
        migration.db_sync(database=database)
        print('%-4s database  %s  revision %s' % (
            database, mask_url(group.connection),
            migration.db_version(database=database)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
