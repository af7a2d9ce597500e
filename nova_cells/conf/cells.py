"""``[cells]``: fan-out across cells."""

from oslo_config import cfg

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
             'time without a restart. 0 disables the cache.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(CELLS_GROUP)
    conf.register_opts(cells_opts, group=CELLS_GROUP)


def list_opts():
    return {CELLS_GROUP: cells_opts}
