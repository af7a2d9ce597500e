"""Every configuration option of nova_cells, registered on one ``CONF``.

Each option group lives in its own module with a ``register_opts(conf)`` and
a ``list_opts()``; this package registers them all on import so that
``from nova_cells.conf import CONF`` is always complete.
"""

from oslo_config import cfg

from nova_cells.conf import cell_database
from nova_cells.conf import cells
from nova_cells.conf import database
from nova_cells.conf import messaging
from nova_cells.conf import paths

__all__ = [
    'CONF',
    'OPTION_MODULES',
    'register_all',
]

CONF = cfg.CONF

# Option modules in the order they appear in the sample config.
OPTION_MODULES = (paths, messaging, database, cell_database, cells)


def register_all(conf: cfg.ConfigOpts) -> None:
    for module in OPTION_MODULES:
        module.register_opts(conf)


register_all(CONF)
