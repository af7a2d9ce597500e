"""``[DEFAULT] state_path``: where the embedded SQLite databases live."""

import os

from oslo_config import cfg

__all__ = [
    'list_opts',
    'path_opts',
    'register_opts',
    'state_path_def',
]


def _default_state_path() -> str:
    """``$NOVA_CELLS_STATE_PATH``, else ``$XDG_STATE_HOME/nova_cells``.

    A per-user directory rather than ``/var/lib`` so that trying the tool
    needs neither root nor a config file.
    """
    explicit = os.environ.get('NOVA_CELLS_STATE_PATH')
    if explicit:
        return os.path.abspath(explicit)
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'nova_cells')


path_opts = [
    cfg.StrOpt(
        'state_path',
        default=_default_state_path(),
        sample_default='$XDG_STATE_HOME/nova_cells',
        help='Directory for the state nova_cells keeps on local disk: the '
             'embedded SQLite API and main databases when no '
             '[api_database]/connection or [database]/connection is set. '
             'Defaults to $NOVA_CELLS_STATE_PATH if set, else '
             '$XDG_STATE_HOME/nova_cells (~/.local/state/nova_cells).'),
]


def state_path_def(*parts: str) -> str:
    """A path under the state directory, interpolated when read."""
    return os.path.join('$state_path', *parts)


def register_opts(conf: cfg.ConfigOpts) -> None:
    try:
        conf.register_opts(path_opts)
    except cfg.DuplicateOptError:
        # Inside a Nova process nova.conf has registered Nova's own
        # state_path on the same CONF: that one stays, and the embedded
        # SQLite defaults live under Nova's state directory. It is the
        # only option both projects define differently.
        pass


def list_opts():
    return {'DEFAULT': path_opts}
