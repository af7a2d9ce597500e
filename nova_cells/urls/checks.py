"""Why a URL cannot be used, in our own words.

A cell mapping whose URL cannot be used is worse than no mapping: every
request routed to it fails later, far from the command that stored it. So
``create_cell``, ``update_cell`` and ``map_cell0`` check here first, and
every path that builds an engine or a transport applies the same
reasons (:func:`database_url_problem`, :func:`transport_url_problem`).

Reasons never quote the URL, nor a library's message about it: a password
with an unencoded ``@`` or ``/`` leaves its tail in the host or port
position, and the library would echo it there. Messages name the URL only
through :func:`~nova_cells.urls.masking.mask_url`.
"""

import os

import sqlalchemy

from nova_cells import exception
from nova_cells.urls import identity
from nova_cells.urls import parsing
from nova_cells.urls import templates
from nova_cells.urls.masking import mask_url

__all__ = [
    'DATABASE',
    'TRANSPORT',
    'cell0_default_connection',
    'cell_database_problem',
    'check_database_connection',
    'check_transport_url',
    'database_url_problem',
    'filled',
    'given_transport_url_problem',
    'transport_url_problem',
]

TRANSPORT = 'transport_url'
DATABASE = 'database_connection'

_PORTS = range(1, 65536)

_AT_SIGN = ('an "@" in the user name or password must be percent-encoded '
            'as %40')
# In words, not as a pattern: a "scheme://user:password@..." pattern
# would itself be masked wherever messages are.
_DATABASE_SYNTAX = ('expected a dialect (and driver), "://", an optional '
                    'user and password followed by "@", a host with an '
                    'optional port, "/" and the database name')
_TRANSPORT_SYNTAX = ('expected a driver, "://", then hosts separated by ",",'
                     ' each an optional user and password followed by "@" '
                     'and a host with an optional port, then "/" and the '
                     'virtual host; special characters in user names and '
                     'passwords must be percent-encoded')
_PORT_RANGE = 'a port must be a number from 1 to 65535'
_UNSAFE_IN_USERINFO = '@/?#,'
_SQLITE_HEADER = b'SQLite format 3\x00'


def _port_problem(port: str | None) -> str | None:
    if port is None:
        return None
    if not port.isdigit() or int(port) not in _PORTS:
        return _PORT_RANGE
    return None


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot reach a database, or None if it can.

    The driver is imported now, so a bad URL is refused when it is given,
    not on its first query.
    """
    try:
        parsed = parsing.parse_database_url(url)
    except sqlalchemy.exc.ArgumentError:
        return _DATABASE_SYNTAX
    except ValueError:
        # SQLAlchemy's int() of the port: its text may be a password.
        return _PORT_RANGE
    if parsed.host and '@' in parsed.host:
        # SQLAlchemy ends the password at its first "@": the rest of the
        # password would be sent as the host name, and echoed by the
        # driver's connection errors.
        return _AT_SIGN
    if parsed.port is not None and parsed.port not in _PORTS:
        return _PORT_RANGE
    try:
        parsed.get_dialect().import_dbapi()
        parsing.engine_url(url)
    except sqlalchemy.exc.NoSuchModuleError:
        return 'SQLAlchemy has no dialect for it'
    except ImportError as error:
        return 'its driver module %r is not installed' % error.name
    except (sqlalchemy.exc.ArgumentError, ValueError, TypeError):
        return _DATABASE_SYNTAX
    return None


def transport_url_problem(url: str | None) -> str | None:
    """Why ``url`` cannot name a message queue, or None if it can.

    ``none:///`` (no queue) is a usable answer.
    """
    if not url:
        return 'no URL is given'
    if parsing.has_no_transport(url):
        return None
    parts = parsing.split_url(url)
    if not parts.has_scheme or not parts.scheme:
        return _TRANSPORT_SYNTAX
    for host in parts.hosts:
        if not host.is_plain:
            return _TRANSPORT_SYNTAX
        problem = _port_problem(host.port)
        if problem is not None:
            return problem
    return None


def _unencoded_credentials(url: str) -> bool:
    """True when a transport URL's credentials hold a character that
    oslo.messaging would read as a delimiter (it splits with urllib, at
    the first "@" and at every ","), so it would see another host or a
    port there. Checked where an operator gives a URL; a URL filled from
    this node's own configuration is routed as split here."""
    return any(character in host.userinfo
               for host in parsing.split_url(url).hosts
               for character in _UNSAFE_IN_USERINFO)


def given_transport_url_problem(url: str) -> str | None:
    """:func:`transport_url_problem` for a URL an operator wrote (a flag,
    a config file), which must also have its credentials encoded."""
    problem = transport_url_problem(url)
    if problem is None and not parsing.has_no_transport(url) and (
            _unencoded_credentials(url)):
        problem = _TRANSPORT_SYNTAX
    return problem


def _sqlite_file_problem(path: str | None) -> str | None:
    if path is None:
        return ('an in-memory SQLite database cannot hold a cell; name a '
                'file (sqlite:////path/to/cell.sqlite)')
    if not os.path.isabs(path):
        return ('a relative SQLite path names another file in every '
                'directory a command runs in; give an absolute path '
                '(sqlite:////path/to/cell.sqlite)')
    if os.path.isdir(path):
        return 'it names a directory, not a SQLite file'
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        try:
            with open(path, 'rb') as existing:
                header = existing.read(len(_SQLITE_HEADER))
        except OSError:
            return 'the file exists and cannot be read'
        if header != _SQLITE_HEADER:
            return 'the file exists and is not a SQLite database'
    return None


def _api_database_url() -> str | None:
    from nova_cells import connections  # the registry imports this module

    try:
        return connections.get_registry().conf.api_database.connection
    except Exception:  # [api_database] not registered in this process
        return None


def cell_database_problem(url: str) -> str | None:
    """Why ``url`` (filled) cannot hold a cell's database, or None.

    On top of :func:`database_url_problem`: a cell needs a database of its
    own that stays the same wherever a command runs, so an in-memory or
    relative SQLite database, a file that is not SQLite, a server URL
    naming no host or no database, and the API database itself are
    refused.
    """
    problem = database_url_problem(url)
    if problem is not None:
        return problem
    parsed = parsing.parse_database_url(url)
    if parsed.get_backend_name() == 'sqlite':
        problem = _sqlite_file_problem(parsing.sqlite_file(url))
    elif not parsed.host:
        problem = 'it names no host'
    elif not parsed.database:
        problem = 'it names no database'
    if problem is None and identity.database_reached(url).same(
            identity.database_reached(_api_database_url())):
        problem = ('it is the API database ([api_database] connection); a '
                   'cell needs a database of its own')
    return problem


def filled(field: str, url: str, cell: str) -> str:
    """The URL with its template variables filled from local config.

    :raises CellURLTemplateError: a variable cannot be filled here.
    """
    return templates.fill(field, url, cell=cell)


def check_transport_url(url: str | None, cell: str) -> None:
    """:raises MissingCellURL, InvalidCellURL, CellURLTemplateError."""
    if not url:
        raise exception.MissingCellURL(
            kind='transport', option='--transport-url',
            config='[DEFAULT] transport_url')
    if parsing.has_no_transport(url):
        return
    problem = given_transport_url_problem(filled(TRANSPORT, url, cell))
    if problem is not None:
        raise exception.InvalidCellURL(
            cell=cell, kind='transport', url=mask_url(url), reason=problem)


def check_database_connection(url: str | None, cell: str) -> None:
    """:raises MissingCellURL, InvalidCellURL, CellURLTemplateError."""
    if not url:
        raise exception.MissingCellURL(
            kind='database', option='--database_connection',
            config='[database] connection')
    problem = cell_database_problem(filled(DATABASE, url, cell))
    if problem is not None:
        raise exception.InvalidCellURL(
            cell=cell, kind='database', url=mask_url(url), reason=problem)


def cell0_default_connection(main_connection: str | None) -> str:
    """The local main database URL with ``_cell0`` added to its name.

    Works on the parsed URL, so a password full of ``@ : / %`` comes out
    exactly as it went in. For a SQLite file, ``_cell0`` goes before the
    extension (``nova.sqlite`` -> ``nova_cell0.sqlite``).

    :raises InvalidCellURL: the local URL has no database name to derive
        from (unset, unparsable or in-memory).
    """
    def refuse(reason: str) -> exception.InvalidCellURL:
        return exception.InvalidCellURL(
            cell='cell0', kind='database', url=mask_url(main_connection),
            reason=reason + '; pass --database_connection')

    if not main_connection:
        raise refuse('[database] connection is not set')
    try:
        parsed = sqlalchemy.engine.make_url(main_connection)
    except Exception:
        raise refuse('it is not a database URL') from None
    if not parsed.database or (parsed.get_backend_name() == 'sqlite' and
                               parsing.sqlite_file(main_connection) is None):
        raise refuse('the local database has no name to add _cell0 to')
    return parsing.with_database_suffix(main_connection, '_cell0')
