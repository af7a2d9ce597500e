"""``[cell_database]``: how this process reaches the databases of cells.

``[database]`` configures the *local* main database only. Every database
reached by targeting a cell takes its timeouts, retries and pool from this
group instead, with defaults chosen to fail fast: a cell whose database is
down, or accepts connections and never answers, is reported within seconds
rather than holding the caller for minutes (oslo.db's ``[database]``
defaults retry ten times, ten seconds apart).

Options are plain module-level lists so that another option (for example
a connection budget) is added here by appending to ``cell_database_opts``.
"""

from oslo_config import cfg

__all__ = [
    'CELL_DATABASE_GROUP',
    'cell_database_opts',
    'list_opts',
    'register_opts',
]

CELL_DATABASE_GROUP = cfg.OptGroup(
    'cell_database',
    title='Cell database options',
    help='Timeouts, retries and pool of every cell database reached by '
         'targeting a cell. The local main database keeps using '
         '[database]. Before this group existed cells used the [database] '
         'pool and retry settings; to get that behaviour back set '
         'max_retries = 10, retry_interval = 10, connect_timeout = 0, '
         'query_timeout = 0, max_pool_size = 5, max_overflow = 50 and '
         'pool_timeout = 30 here.')

cell_database_opts = [
    cfg.FloatOpt(
        'connect_timeout',
        default=5.0,
        min=0.0,
        help='Seconds one attempt to open a connection to a cell database '
             'may take, TCP connect and the server\'s greeting together, '
             'so a port that accepts and never answers fails as fast as a '
             'refused one. PostgreSQL (libpq) counts whole seconds, at '
             'least 2. 0 means no limit.'),
    cfg.FloatOpt(
        'query_timeout',
        default=30.0,
        min=0.0,
        help='Seconds one statement on a cell database may take before it '
             'is abandoned: a socket read/write timeout on MySQL '
             '(PyMySQL), a statement_timeout on PostgreSQL, the busy '
             'timeout waiting for a locked SQLite file. 0 means no limit '
             '(SQLite then waits 30 s for a lock).'),
    cfg.IntOpt(
        'max_retries',
        default=0,
        min=0,
        help='Further attempts to open a connection after the first one '
             'failed, before the call fails with CellUnavailable. Each '
             'attempt is bounded by connect_timeout.'),
    cfg.FloatOpt(
        'retry_interval',
        default=1.0,
        min=0.0,
        help='Seconds between two attempts to open a connection.'),
    cfg.IntOpt(
        'max_pool_size',
        default=2,
        min=1,
        help='Connections kept open to each cell database.'),
    cfg.IntOpt(
        'max_overflow',
        default=8,
        min=0,
        help='Connections a cell\'s pool may open beyond max_pool_size '
             'under load; closed again when returned.'),
    cfg.FloatOpt(
        'pool_timeout',
        default=10.0,
        min=0.0,
        help='Seconds a call waits for a free connection from a cell\'s '
             'pool before it fails.'),
    cfg.BoolOpt(
        'pool_pre_ping',
        default=False,
        help='Ping a cell\'s server each time a connection is taken from '
             'its pool (a round trip before every call). Off by default: '
             'a connection the server dropped fails the one call that '
             'uses it with DBConnectionError, and the pool is renewed.'),
    cfg.IntOpt(
        'max_total_connections',
        default=0,
        min=0,
        help='Most connections this process holds to all cell databases '
             'together (the API and local databases are not counted). '
             'When a new one is needed at the cap, the least recently '
             'used cell with no connection in use gives its connections '
             'back first (failing that, the least recently used cell '
             'with idle connections closes those; a connection in use is '
             'never closed); when every connection is in use the call waits '
             'up to pool_timeout, then fails with '
             'ConnectionBudgetExhausted. 0 means no cap. Worst case per '
             'database server without a cap: cells on it x workers x '
             '(max_pool_size + max_overflow).'),
    cfg.FloatOpt(
        'idle_timeout',
        default=300.0,
        min=0.0,
        help='Seconds a cell\'s connections may stay unused before they '
             'are closed and its engine is freed; the next call into the '
             'cell opens them again, transparently. Connections in use are '
             'never closed. 0 keeps them for the life of the process: '
             'then the engine of every cell ever used stays in memory '
             '(about 50-60 KB each on SQLite), max_total_connections '
             'or not.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(CELL_DATABASE_GROUP)
    conf.register_opts(cell_database_opts, group=CELL_DATABASE_GROUP)


def list_opts():
    return {CELL_DATABASE_GROUP: cell_database_opts}
