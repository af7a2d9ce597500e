"""``[api_database]`` and ``[database]``: the two databases a node talks to.

Each group gets its *own copy* of oslo.db's options: a shared option object
would let a default set on one group leak into the other. Both default to a
SQLite file under ``state_path`` (``$state_path/nova_cells_api.sqlite`` and
``$state_path/nova_cells.sqlite``) so nothing needs configuring to try it;
``connection`` is a secret option in both.
"""

import copy

from oslo_config import cfg
from oslo_db import options as oslo_db_options

from nova_cells.conf import paths

__all__ = [
    'API_DATABASE_GROUP',
    'DATABASE_GROUP',
    'DEFAULT_API_CONNECTION',
    'DEFAULT_MAIN_CONNECTION',
    'api_db_opts',
    'apply_defaults',
    'db_opts',
    'list_opts',
    'register_opts',
]

API_DATABASE_GROUP = cfg.OptGroup(
    'api_database',
    title='API database options',
    help='The API database holds the cell, host and instance mappings. '
         'One per deployment, used by API-level services. When '
         'connection is unset it is '
         'sqlite:///$state_path/nova_cells_api.sqlite.')

DATABASE_GROUP = cfg.OptGroup(
    'database',
    title='Main (cell) database options',
    help='The main database of the local cell, and only that: every '
         'cell database reached by targeting a cell is configured by '
         '[cell_database]. When connection is unset it is '
         'sqlite:///$state_path/nova_cells.sqlite.')

DEFAULT_API_CONNECTION = 'sqlite:///' + paths.state_path_def(
    'nova_cells_api.sqlite')
DEFAULT_MAIN_CONNECTION = 'sqlite:///' + paths.state_path_def(
    'nova_cells.sqlite')


def _copy_oslo_db_opts() -> list:
    # Unmodified copies: oslo.db registers its own option objects under
    # [database] of the global CONF when an engine starts, which only
    # succeeds if what is registered there is equal to them. Defaults are
    # therefore set on the ConfigOpts (register_opts), not on the options.
    return [copy.deepcopy(opt) for opt in oslo_db_options.database_opts]


def _pool_pre_ping_opt() -> cfg.BoolOpt:
    return cfg.BoolOpt(
        'pool_pre_ping',
        default=False,
        help='Ping the server each time a connection is taken from the '
             'pool (a round trip before every transaction and every read, '
             'as oslo.db always did). Off by default: a connection the '
             'server dropped then fails the one call that uses it with '
             'DBConnectionError, and the whole pool is renewed; turn it '
             'on only where no caller retries such an error.')


# Our own, beside oslo.db's: taken out before the rest go to oslo.db.
api_db_opts = _copy_oslo_db_opts() + [_pool_pre_ping_opt()]
db_opts = _copy_oslo_db_opts() + [_pool_pre_ping_opt()]


def apply_defaults(conf: cfg.ConfigOpts) -> None:
    """Set the SQLite ``connection`` defaults on ``conf``.

    They live on the ConfigOpts, not the options, so ``conf.reset()``
    forgets them; whoever resets (the test config fixture) calls this again.
    """
    conf.set_default('connection', DEFAULT_API_CONNECTION,
                     group=API_DATABASE_GROUP)
    conf.set_default('connection', DEFAULT_MAIN_CONNECTION,
                     group=DATABASE_GROUP)


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(API_DATABASE_GROUP)
    conf.register_opts(api_db_opts, group=API_DATABASE_GROUP)
    conf.register_group(DATABASE_GROUP)
    conf.register_opts(db_opts, group=DATABASE_GROUP)
    apply_defaults(conf)


def list_opts():
    return {API_DATABASE_GROUP: api_db_opts, DATABASE_GROUP: db_opts}
