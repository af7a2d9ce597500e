"""Cell URL templates, filled from this node's own URLs.

A cell's stored ``transport_url`` or ``database_connection`` may be a
template, so one API database can serve nodes that reach the same cell with
different credentials or addresses::

    mysql+pymysql://{username}:{password}@{hostname}/nova_cell1?{query}

Variables come from the local ``[database] connection`` (for
``database_connection``) or ``[DEFAULT] transport_url`` (for
``transport_url``):

``{scheme}``
    everything before ``://``.
``{username}``, ``{password}``, ``{hostname}``, ``{port}``
    of the first host; ``{username2}``, ``{hostname2}``... of the second
    host of a multi-host URL (``rabbit://u:p@h1:5672,u:p@h2:5672/``),
    counting from 1, so ``{hostname1}`` is ``{hostname}``. An IPv6 hostname
    keeps its brackets, so ``{hostname}:{port}`` stays a valid URL.
``{path}``
    the path without the one ``/`` that separates it from the hosts
    (``nova`` for ``.../nova``; ``/var/lib/x.db`` for ``sqlite:////var/...``).
``{query}``, ``{fragment}``
    without their ``?`` / ``#``.

Rules:

* Values are copied as they are written in the local URL, never decoded or
  re-encoded, so a percent-encoded password stays encoded and the filled
  URL parses exactly like the local one.
* The local URL is split by :func:`~nova_cells.urls.parsing.split_url`,
  the one split masking and identity use too (passwords may carry
  ``@ : / ? #``; its docstring has the rules).
* ``{{`` and ``}}`` stand for literal braces (the ``str.format`` syntax Nova
  uses, so Nova's templates fill identically). Braces are not valid URL
  characters, so any ``{name}`` is a variable.
* ``{path}``, ``{query}``, ``{fragment}`` and ``{scheme}`` are always
  defined (possibly empty). A user, password, host or port that the local
  URL lacks is *missing*, as is an unknown variable or an unset local URL:
  a template is never filled with the text ``None``. :func:`render`
  reports what is missing, :func:`fill` raises
  :class:`~nova_cells.exception.CellURLTemplateError` naming it.
"""

import dataclasses
import functools
import re
import types
from collections.abc import Mapping
from typing import Any

from oslo_config import cfg

from nova_cells import exception
from nova_cells.urls.parsing import Host
from nova_cells.urls.parsing import split_url

__all__ = [
    'HOST_VARIABLES',
    'Rendering',
    'SOURCES',
    'URL_VARIABLES',
    'VARIABLES',
    'fill',
    'is_template',
    'local_url',
    'render',
    'render_field',
    'template_error',
    'url_variables',
]

#: The object fields that may hold a template, and where their values come
#: from: (option group or None for [DEFAULT], option, label for messages).
SOURCES = {
    'transport_url': (None, 'transport_url', '[DEFAULT] transport_url'),
    'database_connection': ('database', 'connection',
                            '[database] connection'),
}

#: Variables describing one host of the local URL (indexable).
HOST_VARIABLES = ('username', 'password', 'hostname', 'port')
#: Variables describing the whole local URL.
URL_VARIABLES = ('scheme', 'path', 'query', 'fragment')
VARIABLES = URL_VARIABLES[:1] + HOST_VARIABLES + URL_VARIABLES[1:]

_TOKEN = re.compile(r'\{\{|\}\}|\{([^{}]*)\}')
_INDEXED = re.compile(r'([a-z]+?)([1-9][0-9]*)?$')


@dataclasses.dataclass(frozen=True)
class Rendering:
    """A filled template, or as much of it as could be filled.

    ``url`` is the filled URL when ``missing`` is empty; otherwise it is the
    template itself, unchanged, and ``missing`` names each variable that
    could not be filled, with the reason.
    """

    url: str
    missing: tuple[tuple[str, str], ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


def is_template(url: str | None) -> bool:
    """True when ``url`` holds a variable or an escaped brace."""
    return url is not None and ('{' in url or '}' in url)


@functools.lru_cache(maxsize=32)
def url_variables(url: str) -> Mapping[str, str | None]:
    """The template variables a local URL provides (``None``: absent).

    :raises ValueError: ``url`` has no ``scheme://``.
    """
    parts = split_url(url)
    if not parts.has_scheme or not parts.scheme:
        raise ValueError('it is not of the form scheme://...')
    path = parts.path
    values: dict[str, str | None] = {
        'scheme': parts.scheme,
        'path': path[1:] if path.startswith('/') else path,
        'query': parts.query or '', 'fragment': parts.fragment or ''}
    hosts = parts.hosts or (Host('', None, None, None, None),)
    for index, host in enumerate(hosts, start=1):
        for name in HOST_VARIABLES:
            value = getattr(host, name)
            values['%s%d' % (name, index)] = value
            if index == 1:
                values[name] = value
    return types.MappingProxyType(values)  # cached: read-only


def _unknown_reason(name: str) -> str:
    match = _INDEXED.match(name)
    if match and match.group(2) and match.group(1) in HOST_VARIABLES:
        return ('{%s} is not filled: the local URL has fewer than %s hosts'
                % (name, match.group(2)))
    return ('{%s} is not a template variable (known: %s, and indexed '
            '%s1, %s2... for each host)' % (
                name, ', '.join(VARIABLES), HOST_VARIABLES[2],
                HOST_VARIABLES[2]))


def render(template: str, local_url: str | None,
           source: str = 'the local URL') -> Rendering:
    """Fill ``template`` from ``local_url``; never raises for bad input.

    ``source`` names the local URL in the reasons (``[database]
    connection``).
    """
    if not is_template(template):
        return Rendering(template)
    values: Mapping[str, Any] = {}
    problem = None
    if not local_url:
        problem = '%s is not set' % source
    else:
        try:
            values = url_variables(local_url)
        except ValueError as error:
            problem = '%s cannot be read: %s' % (source, error)
    pieces: list[str] = []
    missing: list[tuple[str, str]] = []
    position = 0
    for token in _TOKEN.finditer(template):
        pieces.append(template[position:token.start()])
        position = token.end()
        name = token.group(1)
        if name is None:  # an escaped brace
            pieces.append(token.group(0)[0])
            continue
        if problem:
            reason = '{%s} is not filled: %s' % (name, problem)
        elif name not in values:
            reason = _unknown_reason(name)
        elif values[name] is None:
            reason = '{%s} is not filled: %s has no %s' % (
                name, source, name.rstrip('0123456789'))
        else:
            pieces.append(values[name])
            continue
        missing.append((name, reason))
    pieces.append(template[position:])
    if missing:
        return Rendering(template, tuple(missing))
    return Rendering(''.join(pieces))


def local_url(field: str, conf: cfg.ConfigOpts | None = None) -> str | None:
    """This node's URL that fills templates of ``field``, or None.

    A transport URL nobody set (oslo.messaging's own default) is None.

    ``[DEFAULT] transport_url`` is registered by oslo.messaging (or
    :mod:`nova_cells.conf.messaging`); a process that never registered it
    simply has no local transport URL.
    """
    from nova_cells import connections  # the registry imports this module

    group, option, _label = SOURCES[field]
    conf = conf if conf is not None else connections.get_registry().conf
    try:
        value = getattr(conf, option) if group is None else getattr(
            getattr(conf, group), option)
        if field == 'transport_url' and conf.get_location(
                option, group).location is cfg.Locations.opt_default:
            # oslo.messaging's built-in rabbit:// names a broker nobody
            # configured: a cell must never be pointed at it by default.
            return None
        return value
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return None


def render_field(field: str, template: str,
                 conf: cfg.ConfigOpts | None = None) -> Rendering:
    """Fill the template of a CellMapping ``field`` from local config."""
    if not is_template(template):
        return Rendering(template)
    return render(template, local_url(field, conf), SOURCES[field][2])


def template_error(field: str, rendering: Rendering,
                   cell: str) -> exception.CellURLTemplateError:
    """The exception saying why ``rendering`` is incomplete."""
    return exception.CellURLTemplateError(
        field=field, cell=cell,
        variables=', '.join(name for name, _ in rendering.missing),
        reason='; '.join(reason for _, reason in rendering.missing))


def fill(field: str, template: str, conf: cfg.ConfigOpts | None = None,
         cell: str = '(new cell)') -> str:
    """The filled URL for a CellMapping ``field``.

    :raises CellURLTemplateError: naming each variable that cannot be filled.
    """
    rendering = render_field(field, template, conf)
    if not rendering.complete:
        raise template_error(field, rendering, cell)
    return rendering.url

