"""The one split of a database or transport URL, and database URL spelling.

Passwords often carry ``@ : / ? # %`` unencoded, so a generic URL parser
(``urllib``, or SQLAlchemy's, which ends a password at its first ``@``)
would cut them apart. :func:`split_url` is the only place this project
splits a URL into its parts, and masking, template filling and identity
all read its result:

* the hosts end at the first ``/``, ``?`` or ``#`` after the **last**
  ``@`` (so an ``@`` inside a query string is read as part of a password:
  percent-encode it there);
* a database URL has exactly one host, so a ``,`` belongs to its password;
  a transport URL lists hosts separated by ``,``, and a piece that is no
  plain host belongs to the credentials of the next piece that has an
  ``@`` (a ``,`` inside a transport password should still be encoded, as
  oslo.messaging requires);
* in each host the user name ends at the first ``:`` of the credentials,
  and the password is the rest;
* nothing is decoded: parts are returned exactly as written.

The database helpers below (:func:`parse_database_url`, :func:`engine_url`)
hand a URL to SQLAlchemy, naming the drivers this project installs.
"""

import dataclasses
import functools
import os
import re
import urllib.parse

import sqlalchemy
from oslo_config import cfg

from nova_cells import exception

__all__ = [
    'DEFAULT_PORTS',
    'Host',
    'PROJECT_DRIVERS',
    'SINGLE_HOST_SCHEMES',
    'SplitURL',
    'database_name',
    'engine_url',
    'ensure_sqlite_directory',
    'has_no_transport',
    'parse_database_url',
    'server_url',
    'split_host',
    'split_url',
    'sqlite_file',
    'sqlite_path',
    'virtual_host',
    'with_database_suffix',
    'with_virtual_host',
]

#: The drivers this project installs. For a URL naming no driver,
#: SQLAlchemy would pick its own default (MySQLdb; psycopg 3 since
#: SQLAlchemy 2.1), neither of which is installed, so a bare scheme means
#: these.
PROJECT_DRIVERS = {'mysql': 'pymysql', 'mariadb': 'pymysql',
                   'postgresql': 'psycopg2'}

#: Ports a host without one is reached on, by scheme family.
DEFAULT_PORTS = {'mysql': 3306, 'mariadb': 3306, 'postgresql': 5432,
                 'postgres': 5432, 'rabbit': 5672, 'amqp': 5672,
                 'kafka': 9092}

#: Schemes (before any ``+driver``) whose URLs have exactly one host, so
#: a comma belongs to the password: SQLAlchemy's dialects.
SINGLE_HOST_SCHEMES = frozenset({'sqlite', 'mysql', 'mariadb', 'postgresql',
                                 'postgres', 'oracle', 'mssql'})

# A host as it may stand alone: a name or IPv4 address, or a bracketed
# IPv6 address, with an optional numeric port.
_PLAIN_HOST = re.compile(r'^(\[[^\]]*\]|[^:@\[\]]*)(:\d*)?$')

# Query parameters some drivers read a password from; moved into the URL's
# userinfo, where SQLAlchemy's and oslo.db's URL reprs hide it.
_QUERY_PASSWORD_KEYS = ('password', 'passwd')


@dataclasses.dataclass(frozen=True)
class Host:
    """One host of a URL, each part as written (None: absent).

    ``username`` is None when there is no ``@``; ``password`` is None when
    the credentials have no ``:``. ``hostname`` keeps IPv6 brackets.
    ``port`` is the text after the host's ``:`` (not necessarily a number).
    """

    text: str
    username: str | None
    password: str | None
    hostname: str | None
    port: str | None
    #: The credentials before the last ``@`` ('' when there is none).
    userinfo: str = ''
    #: ``host[:port]`` after the last ``@``, as written.
    hostport: str = ''

    @property
    def is_plain(self) -> bool:
        """A host name (or address) with a numeric port or none: what a
        host position can hold when nothing is misplaced."""
        return bool(_PLAIN_HOST.match(self.hostport))


@dataclasses.dataclass(frozen=True)
class SplitURL:
    """A URL's parts as written. ``query`` and ``fragment`` are None when
    the URL has no ``?`` / ``#``; ``path`` keeps its leading ``/``."""

    url: str
    scheme: str
    has_scheme: bool
    hosts: tuple[Host, ...]
    path: str
    query: str | None
    fragment: str | None

    @property
    def family(self) -> str:
        """The scheme without its ``+driver`` part, lower case."""
        return self.scheme.partition('+')[0].lower()

    @property
    def netloc(self) -> str:
        return ','.join(host.text for host in self.hosts)

    @property
    def passwords(self) -> tuple[str, ...]:
        return tuple(host.password for host in self.hosts
                     if host.password)


def split_host(text: str) -> Host:
    """One ``[user[:password]@]host[:port]`` as written."""
    userinfo, at, hostport = text.rpartition('@')
    username = password = None
    if at:
        username, colon, secret = userinfo.partition(':')
        password = secret if colon else None
    if hostport.startswith('[') and ']' in hostport:
        end = hostport.index(']') + 1
        hostname, port = hostport[:end], hostport[end:]
        port = port[1:] if port.startswith(':') else ''
    else:
        hostname, _colon, port = hostport.partition(':')
    return Host(text, username, password, hostname or None, port or None,
                userinfo, hostport)


def _host_texts(netloc: str, single_host: bool) -> list[str]:
    if single_host or not netloc:
        return [netloc] if netloc else []
    hosts: list[str] = []
    pending = ''
    for piece in netloc.split(','):
        piece = pending + piece
        if '@' not in piece and not _PLAIN_HOST.match(piece):
            pending = piece + ','
            continue
        pending = ''
        hosts.append(piece)
    if pending:
        hosts.append(pending[:-1])
    return hosts


@functools.lru_cache(maxsize=256)
def split_url(url: str) -> SplitURL:
    """Split ``url`` by the rules in this module's docstring; never raises.

    A string without ``scheme://`` is split as if it were all network
    location and tail (``has_scheme`` False), so ``user:secret@host`` is
    still read as credentials.
    """
    scheme, separator, rest = url.partition('://')
    if not separator:
        scheme, rest = '', url
    last_at = rest.rfind('@')
    end = len(rest)
    for delimiter in '/?#':
        found = rest.find(delimiter, last_at + 1)
        if found != -1:
            end = min(end, found)
    netloc, tail = rest[:end], rest[end:]
    tail, hash_sign, fragment = tail.partition('#')
    path, question, query = tail.partition('?')
    single = scheme.partition('+')[0].lower() in SINGLE_HOST_SCHEMES
    hosts = tuple(split_host(text) for text in _host_texts(netloc, single))
    return SplitURL(url, scheme, bool(separator), hosts, path,
                    query if question else None,
                    fragment if hash_sign else None)


def has_no_transport(transport_url: str | None) -> bool:
    """True when a cell's transport URL says it has no message queue."""
    return transport_url is not None and transport_url.startswith('none:')


# -- database URLs through SQLAlchemy -----------------------------------------

def parse_database_url(url: str) -> sqlalchemy.engine.URL:
    """Parse a database URL, naming the project's driver if it names none.

    :raises sqlalchemy.exc.ArgumentError: not a URL at all.
    """
    parsed = sqlalchemy.engine.make_url(url)
    driver = PROJECT_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername='%s+%s' % (parsed.drivername, driver))
    return parsed


def sqlite_file(url: str | None) -> str | None:
    """The file path a SQLite URL names, or None (not SQLite, in memory,
    or not a URL). The one rule for "is this a SQLite file URL".

    ``sqlite:///file:PATH?uri=true`` names PATH; ``:memory:``,
    ``file::memory:`` and ``mode=memory`` URIs name no file.
    """
    if not url:
        return None
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != 'sqlite':
        return None
    database = parsed.database or ''
    if parsed.query.get('uri') == 'true' and database.startswith('file:'):
        path, _question, options = database[len('file:'):].partition('?')
        if 'mode=memory' in options.split('&') or (
                parsed.query.get('mode') == 'memory'):
            return None
        if path.startswith('//'):
            # file://[host]/path: an empty or "localhost" authority.
            authority, slash, path = path[2:].partition('/')
            if authority not in ('', 'localhost'):
                return None
            path = slash + path
        database = urllib.parse.unquote(path)
    if not database or database == ':memory:' or database.startswith(
            'file::memory:'):
        return None
    return database


def sqlite_path(url: str | None) -> str | None:
    """:func:`sqlite_file` as an absolute, symlink-free path."""
    database = sqlite_file(url)
    return os.path.realpath(database) if database else None


def engine_url(url: str) -> str:
    """The URL handed to oslo.db: the same database, reached the same way,
    spelled so that no library can print its password.

    * The driver is named (``postgresql`` becomes ``postgresql+psycopg2``):
      oslo.db warns about a driver-less URL by printing it, query string
      and all.
    * A password given as a query parameter moves into the userinfo, which
      every URL repr masks; SQLite ignores one, so there it is dropped.
    """
    parsed = parse_database_url(url)
    backend = parsed.get_backend_name()
    if '+' not in parsed.drivername and backend != 'sqlite':
        parsed = parsed.set(
            drivername='%s+%s' % (backend, parsed.get_dialect().driver))
    for name in _QUERY_PASSWORD_KEYS:
        value = parsed.query.get(name)
        if value is None:
            continue
        if backend != 'sqlite' and parsed.password is None and isinstance(
                value, str):
            parsed = parsed.set(password=value)
        parsed = parsed.difference_update_query([name])
    return parsed.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    """The database a URL names (a SQLite file's name), for messages."""
    database = sqlalchemy.engine.make_url(url).database or ''
    return database.rpartition('/')[2]


def ensure_sqlite_directory(url: str) -> None:
    """Get a SQLite file URL ready to be opened (and so created).

    Its directory is created only when it is the configured ``state_path``,
    where the embedded default databases live; anywhere else a missing
    directory is a mistyped path, and creating it would migrate an empty
    database nobody meant (even ``/nonexistent`` when run as root). The
    state directory is made 0700 and a new database file 0600: they hold
    cell URLs, passwords included. Anything but a SQLite file is left
    alone.

    :raises SQLiteDirectoryMissing: naming the directory.
    """
    database = sqlite_file(url)
    if not database:
        return
    path = os.path.abspath(database)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        state_path = _configured_state_path()
        if state_path is None or os.path.abspath(state_path) != directory:
            raise exception.SQLiteDirectoryMissing(directory=directory)
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _configured_state_path() -> str | None:
    """``[DEFAULT] state_path`` of the registry's configuration, or None
    where it is not registered (a library user's own ConfigOpts)."""
    from nova_cells import connections  # the registry imports this module

    try:
        return connections.get_registry().conf.state_path
    except cfg.NoSuchOptError:
        return None


def with_database_suffix(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to its database name.

    For a SQLite file the suffix goes before the extension
    (``nova.sqlite`` -> ``nova_cell1.sqlite``). Works on the parsed URL, so
    the password comes out exactly as it went in.
    """
    parsed = sqlalchemy.engine.make_url(url)
    database = parsed.database or ''
    if parsed.get_backend_name() == 'sqlite':
        directory, slash, filename = database.rpartition('/')
        stem, dot, extension = filename.rpartition('.')
        if not dot or not stem:
            stem, dot, extension = filename, '', ''
        database = '%s%s%s%s%s%s' % (directory, slash, stem, suffix, dot,
                                     extension)
    else:
        database += suffix
    return parsed.set(database=database).render_as_string(
        hide_password=False)


def server_url(url: str) -> str:
    """A MySQL / PostgreSQL URL of the same server naming no database
    (PostgreSQL's ``postgres``), for creating the database itself."""
    parsed = parse_database_url(url)
    # URL.set() ignores None; _replace is the named tuple's own method.
    server = parsed._replace(database='postgres' if (
        parsed.get_backend_name() == 'postgresql') else None)
    return engine_url(server.render_as_string(hide_password=False))


# -- transport URLs -----------------------------------------------------------

def virtual_host(url: str) -> str:
    """The virtual host a transport URL names (``/`` when none)."""
    return split_url(url).path.lstrip('/') or '/'


def with_virtual_host(url: str, vhost: str) -> str:
    """``url`` naming virtual host ``vhost`` instead of its own."""
    parts = split_url(url)
    rebuilt = '%s://%s/%s' % (parts.scheme, parts.netloc, vhost)
    if parts.query is not None:
        rebuilt += '?' + parts.query
    if parts.fragment is not None:
        rebuilt += '#' + parts.fragment
    return rebuilt
