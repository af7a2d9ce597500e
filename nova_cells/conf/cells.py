"""``[cells]``: fan-out across cells and the mapping cache."""

from oslo_config import cfg

__all__ = [
    'CELLS_GROUP',
    'cells_opts',
    'list_opts',
    'register_opts',
]

CELLS_GROUP = cfg.OptGroup(
    'cells',
    title='Cells options',
    help='How work is spread across cells.')

cells_opts = [
    cfg.FloatOpt(
        'scatter_gather_timeout',
        default=60.0,
        min=0.0,
        help='Seconds a scatter-gather call waits for the cells before '
             'recording those that have not answered as did-not-respond. '
             'A cell still running an earlier call past that call\'s '
             'timeout is answered as did-not-respond at once, without '
             'waiting, until the earlier call returns.'),
    cfg.IntOpt(
        'scatter_gather_workers',
        default=16,
        min=1,
        help='Most cell calls running at once, across every '
             'scatter-gather call of this process (one shared pool of '
             'threads). Threads left stuck in cells that timed out are '
             'not counted, so hung cells never starve healthy ones.'),
    cfg.FloatOpt(
        'cell_cache_ttl',
        default=30.0,
        min=0.0,
        help='Seconds the list of cells used to fan out to all cells is '
             'cached. A new, disabled or deleted cell is seen within this '
             'time without a restart. 0 disables the cache. Ignored while '
             'mapping_cache is on: the cell list is then cached by the '
             'mapping cache and followed as it says.'),
    cfg.BoolOpt(
        'mapping_cache',
        default=True,
        help='Serve cell, instance and host mapping look-ups from a '
             'per-process cache. Changes made through nova_cells are seen '
             'at once by the process making them and within '
             'mapping_cache_check_interval seconds by every other process '
             'sharing the API database; changes made behind its back '
             '(plain SQL, Nova itself) within mapping_cache_ttl seconds. '
             'False: every look-up reads the API database.'),
    cfg.IntOpt(
        'mapping_cache_size',
        default=100000,
        min=1,
        help='Most entries the mapping cache keeps of each kind (cells, '
             'instance mappings, host mappings); the least recently used '
             'go first. A cached instance mapping costs a few hundred '
             'bytes.'),
    cfg.FloatOpt(
        'mapping_cache_check_interval',
        default=1.0,
        min=0.0,
        help='Seconds between two checks of the API database\'s mapping '
             'generation by this process: one small query per interval, '
             'never one per request. A change made through nova_cells in '
             'another process is followed within this time. 0 checks on '
             'every look-up.'),
    cfg.FloatOpt(
        'mapping_cache_ttl',
        default=60.0,
        min=0.0,
        help='Seconds a cached mapping is served before it is read again '
             'from the API database, whatever the generation says; bounds '
             'how long a change made behind nova_cells\' back (plain SQL, '
             'Nova itself) can go unseen.'),
    cfg.BoolOpt(
        'require_targeted_context',
        default=False,
        help='Refuse a main (cell) database call made through a context '
             'that is not targeted at a cell: the DB API function raises '
             'UntargetedContext, naming itself, instead of silently using '
             'the local [database] connection. A forgotten '
             'target_cell() is the most common cells bug; turn this on in '
             'the tests of code that routes by cell. Off in production, '
             'where services with a local cell database rely on the '
             'fallback.'),
    cfg.IntOpt(
        'failure_threshold',
        default=3,
        min=1,
        help='Consecutive connection failures or timeouts after which '
             'this process marks a cell\'s database (or, separately, its '
             'message queue) down: calls targeted at it then fail at once '
             'with CellUnavailable, without touching the network. Errors '
             'that are not the cell\'s fault (a missing row, a constraint '
             'violation) never count.'),
    cfg.FloatOpt(
        'message_queue_connect_timeout',
        default=5.0,
        min=0.0,
        help='Seconds the one AMQP connection that checks a cell\'s '
             'RabbitMQ queue, before its transport is first used and when '
             'a queue marked down is probed, may take. 0 means no limit.'),
    cfg.IntOpt(
        'message_queue_retries',
        default=2,
        min=-1,
        help='Further attempts to deliver one message to a cell\'s queue '
             'when its client leaves retry unset, before the send fails '
             'with CellUnavailable and counts towards marking the queue '
             'down. oslo.messaging alone would retry for ever: a call or '
             'cast to a cell whose broker died after its first check '
             'would never return. A client\'s own retry wins; -1 retries '
             'for ever.'),
    cfg.FloatOpt(
        'down_cell_retry_interval',
        default=30.0,
        min=0.0,
        help='Seconds a cell marked down is refused before one call is '
             'let through as a probe; its success brings the cell back, '
             'its failure refuses the cell for another interval.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(CELLS_GROUP)
    conf.register_opts(cells_opts, group=CELLS_GROUP)


def list_opts():
    return {CELLS_GROUP: cells_opts}
