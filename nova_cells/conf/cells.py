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
        help='Seconds a scatter-gather call waits for each cell before '
             'recording it as did-not-respond.'),
    cfg.IntOpt(
        'scatter_gather_workers',
        default=16,
        min=1,
        help='Most cells queried at once by one scatter-gather call.'),
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
