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

import sqlalchemy

from nova_cells import exception
from nova_cells.urls import parsing
from nova_cells.urls import templates
from nova_cells.urls.masking import mask_url

TRANSPORT = 'transport_url'
DATABASE = 'database_connection'

_PORTS = range(1, 65536)

_AT_SIGN = ('an "@" in the user name or password must be percent-encoded '
            'as %40')
_DATABASE_SYNTAX = ('expected dialect+driver://[user:password@]host[:port]'
                    '/database')
_TRANSPORT_SYNTAX = ('expected driver://[user:password@]host[:port]'
                     '[,...]/[virtual_host], with special characters in '
                     'user names and passwords percent-encoded')
_PORT_RANGE = 'a port must be a number from 1 to 65535'
_UNSAFE_IN_USERINFO = '@/?#,'


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
        userinfo = host.text.rpartition('@')[0]
        if not host.is_plain or any(
                character in userinfo for character in _UNSAFE_IN_USERINFO):
            # oslo.messaging splits with urllib and at the first "@" and
            # every ",": it would read another host, or a port, there.
            return _TRANSPORT_SYNTAX
        problem = _port_problem(host.port)
        if problem is not None:
            return problem
    return None


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
    problem = transport_url_problem(filled(TRANSPORT, url, cell))
    if problem is not None:
        raise exception.InvalidCellURL(
            cell=cell, kind='transport', url=mask_url(url), reason=problem)


def check_database_connection(url: str | None, cell: str) -> None:
    """:raises MissingCellURL, InvalidCellURL, CellURLTemplateError."""
    if not url:
        raise exception.MissingCellURL(
            kind='database', option='--database_connection',
            config='[database] connection')
    rendered = filled(DATABASE, url, cell)
    problem = database_url_problem(rendered)
    if problem is None and parsing.parse_database_url(
            rendered).get_backend_name() == 'sqlite' and (
                parsing.sqlite_file(rendered) is None):
        problem = ('an in-memory SQLite database cannot hold a cell; name '
                   'a file (sqlite:////path/to/cell.sqlite)')
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
