"""Which database or message queue a URL reaches, however it is spelled.

Two cells on one database would each claim the other's instances; two
cells on one virtual host would receive each other's messages. So what is
compared is what a URL *reaches*, never its spelling or credentials:

* a database: the backend (``mariadb`` is ``mysql``; the driver is left
  out), the host (its case, the loopback address's spellings ``localhost``,
  ``127.1``, ``::1``... and a default port make no difference), the port
  and the database name; a SQLite file is its real path (plain or
  ``file:`` URI form, relative or through symlinks);
* a queue: the scheme family (``rabbit``), the hosts with their default
  ports, and the virtual host (none is ``/``). Two transport URLs that
  share a broker host and a virtual host reach the same queue: the brokers
  of one cluster share their virtual hosts. ``none:///`` reaches none.

Host *names* are not resolved (that can hang, and the answer may change):
two URLs equal but for host names that are not both addresses *may* be
the same database or queue, which :func:`may_be_same` tells, for a
warning.
"""

import dataclasses
import ipaddress
import socket
import urllib.parse

from nova_cells.urls import parsing

__all__ = [
    'Reached',
    'database_reached',
    'may_be_same',
    'queue_reached',
]

_LOOPBACK = 'localhost'
_BACKEND_ALIASES = {'mariadb': 'mysql', 'postgres': 'postgresql'}


@dataclasses.dataclass(frozen=True)
class Reached:
    """What a URL reaches. ``hosts`` are ``(host, port)`` pairs."""

    kind: str  # 'database' or 'queue'
    family: str
    hosts: frozenset[tuple[str, int | None]]
    name: str

    def same(self, other: 'Reached | None') -> bool:
        """True when ``other`` reaches this database or queue."""
        return other is not None and (
            self.kind, self.family, self.name) == (
                other.kind, other.family, other.name) and bool(
                    self.hosts & other.hosts)


def _canonical_host(host: str | None) -> str:
    """A host as compared: lower case, one spelling per address, every
    loopback address (and no host at all) as ``localhost``."""
    host = (host or '').strip('[]').rstrip('.').lower()
    if not host or host == _LOOPBACK:
        return _LOOPBACK
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            # The classic forms "127.1", "0x7f.1" and "2130706433".
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return host  # a name
    mapped = getattr(address, 'ipv4_mapped', None)
    if mapped is not None:
        address = mapped
    return _LOOPBACK if address.is_loopback else str(address)


def _is_address(host: str) -> bool:
    if host == _LOOPBACK:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _port(port: str | int | None, family: str) -> int | None:
    try:
        return int(port) if port not in (None, '') else (
            parsing.DEFAULT_PORTS.get(family))
    except ValueError:
        return None


def database_reached(url: str | None) -> Reached | None:
    """The database ``url`` reaches, or None (no URL, in memory, or no
    database named)."""
    if not url:
        return None
    parts = parsing.split_url(url)
    if not parts.has_scheme or len(parts.hosts) > 1:
        return None
    family = _BACKEND_ALIASES.get(parts.family, parts.family)
    if family == 'sqlite':
        path = parsing.sqlite_path(url)
        if path is None:
            return None
        return Reached('database', 'sqlite', frozenset({('', None)}), path)
    name = urllib.parse.unquote(parts.path[1:])
    if not name:
        return None
    host = parts.hosts[0] if parts.hosts else parsing.split_host('')
    reached = (_canonical_host(host.hostname), _port(host.port, family))
    return Reached('database', family, frozenset({reached}), name)


def queue_reached(url: str | None) -> Reached | None:
    """The broker virtual host a transport URL reaches; None for
    ``none:///``, no URL, or no ``scheme://``."""
    if not url or parsing.has_no_transport(url):
        return None
    parts = parsing.split_url(url)
    if not parts.has_scheme or not parts.scheme:
        return None
    family = parts.family
    hosts = frozenset((_canonical_host(host.hostname),
                       _port(host.port, family))
                      for host in parts.hosts) or frozenset(
                          {(_LOOPBACK, _port(None, family))})
    vhost = urllib.parse.unquote(parts.path[1:]) if parts.path else ''
    return Reached('queue', family, hosts, vhost or '/')


def may_be_same(one: Reached | None, other: Reached | None) -> bool:
    """True when the two differ only in host names that may resolve to
    one address (so a warning, not a refusal, is due)."""
    if one is None or other is None or one.same(other):
        return False
    if (one.kind, one.family, one.name) != (other.kind, other.family,
                                            other.name):
        return False
    ports = {port for _host, port in one.hosts}
    for host, port in other.hosts:
        if port in ports and not all(
                _is_address(name) for name in
                {host} | {h for h, _p in one.hosts}):
            return True
    return False
