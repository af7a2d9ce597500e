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

``register_opts`` also registers two groups oslo.messaging forgets on any
``ConfigOpts`` but the global one (see ``_GLOBAL_ONLY_GROUPS``), so that
:func:`nova_cells.rpc.init` works with a caller's own configuration object.
Those are not listed for the sample config: they are not ours to document.
"""

import importlib

from oslo_config import cfg
from oslo_messaging import opts as messaging_opts

__all__ = [
    'list_opts',
    'messaging_default_opts',
    'register_opts',
]


def _default_group_opts() -> list[cfg.Opt]:
    for group, opts in messaging_opts.list_opts():
        if group is None:
            return list(opts)
    return []


# Groups oslo.messaging 18 reads on every send but registers on the global
# cfg.CONF only, so a client built on any other ConfigOpts fails its first
# call with NoSuchOptError: (private module, its option list, group).
_GLOBAL_ONLY_GROUPS = (
    ('oslo_messaging._tracing.client', 'oslo_messaging_tracing',
     'oslo_messaging_tracing'),
    ('oslo_messaging._metrics.client', 'oslo_messaging_metrics',
     'oslo_messaging_metrics'),
)


def _global_only_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Those groups' options, looked up defensively: they are private."""
    found = []
    for module_name, attribute, group in _GLOBAL_ONLY_GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        opts = getattr(module, attribute, None)
        if opts:
            found.append((group, list(opts)))
    return found


messaging_default_opts = _default_group_opts()


def register_opts(conf: cfg.ConfigOpts) -> None:
    for opt in messaging_default_opts:
        try:
            conf.register_opt(opt)
        except cfg.DuplicateOptError:
            # oslo.messaging registered its own first, with defaults a
            # service changed (Nova sets control_exchange to 'nova'):
            # the service's stays.
            pass
    for group, opts in _global_only_opts():
        conf.register_opts(opts, group=group)


def list_opts():
    return {'DEFAULT': messaging_default_opts}
