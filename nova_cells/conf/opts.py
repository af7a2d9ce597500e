"""Entry point for ``oslo-config-generator --namespace nova_cells``."""

from nova_cells import conf

__all__ = [
    'list_opts',
]


def list_opts():
    """Return ``[(group, [opts])]`` for every nova_cells option group."""
    merged = {}
    for module in conf.OPTION_MODULES:
        for group, opts in module.list_opts().items():
            merged.setdefault(group, []).extend(opts)
    return list(merged.items())
