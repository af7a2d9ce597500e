"""``[DEFAULT] transport_url`` and oslo.messaging's other ``[DEFAULT]`` opts.

oslo.messaging registers these itself, but only when a transport, client
or server is first built. nova_cells needs them earlier: cell URL templates
are filled from ``transport_url`` before any transport exists, the sample
config should document them, and tests override them up front.

The options are oslo.messaging's own (from its public
:func:`oslo_messaging.opts.list_opts`), never redefined here: a copy that
drifted from the library's definition would make oslo.config refuse the
library's later registration as a duplicate. Registering an equal option
twice is a no-op, so either order works.
"""

from oslo_config import cfg
from oslo_messaging import opts as messaging_opts


def _default_group_opts() -> list[cfg.Opt]:
    for group, opts in messaging_opts.list_opts():
        if group is None:
            return list(opts)
    return []


messaging_default_opts = _default_group_opts()


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(messaging_default_opts)


def list_opts():
    return {'DEFAULT': messaging_default_opts}
