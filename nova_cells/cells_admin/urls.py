"""Checks on the URLs an operator gives a cell, before anything is stored.

A cell mapping whose URL cannot be used is worse than no mapping: every
request routed to it fails later, far from the command that stored it. So
``create_cell``, ``update_cell`` and ``map_cell0`` check here first that a
transport URL parses the way oslo.messaging will parse it, that a database
URL names a dialect SQLAlchemy can load, and that a template can be filled
from this node's configuration. Messages name the URL with its password
masked.
"""

import warnings

import sqlalchemy

from nova_cells import connections
from nova_cells import exception
from nova_cells.masking import mask_url
from nova_cells.objects import url_templates

TRANSPORT = 'transport_url'
DATABASE = 'database_connection'


def _parse_transport_url(url: str) -> None:
    with warnings.catch_warnings():
        # oslo.messaging's import chain warns about eventlet on stderr,
        # which would drown the one line an operator should read.
        warnings.simplefilter('ignore')
        import oslo_messaging
    oslo_messaging.TransportURL.parse(connections.get_registry().conf, url)


def filled(field: str, url: str, cell: str) -> str:
    """The URL with its template variables filled from local config.

    :raises CellURLTemplateError: a variable cannot be filled here.
    """
    return url_templates.fill(field, url, cell=cell)


def check_transport_url(url: str | None, cell: str) -> None:
    """:raises MissingCellURL, InvalidCellURL, CellURLTemplateError."""
    if not url:
        raise exception.MissingCellURL(
            kind='transport', option='--transport-url',
            config='[DEFAULT] transport_url')
    if connections.has_no_transport(url):
        return
    rendered = filled(TRANSPORT, url, cell)
    try:
        _parse_transport_url(rendered)
    except Exception:  # InvalidTransportURL; ValueError for a bad port
        # Never the parser's own message: it may quote part of a password
        # (a bad "port" is often a password cut at an unencoded "/").
        raise exception.InvalidCellURL(
            cell=cell, kind='transport', url=mask_url(url),
            reason=_TRANSPORT_SYNTAX) from None


_TRANSPORT_SYNTAX = ('expected driver://[user:password@]host[:port]'
                     '[,...]/[virtual_host], with special characters in '
                     'user names and passwords percent-encoded')


def check_database_connection(url: str | None, cell: str) -> None:
    """:raises MissingCellURL, InvalidCellURL, CellURLTemplateError."""
    if not url:
        raise exception.MissingCellURL(
            kind='database', option='--database_connection',
            config='[database] connection')
    rendered = filled(DATABASE, url, cell)
    problem = connections.database_url_problem(rendered)
    if problem is not None:
        raise exception.InvalidCellURL(
            cell=cell, kind='database', url=mask_url(url), reason=problem)
    parsed = sqlalchemy.engine.make_url(rendered)
    if parsed.get_backend_name() == 'sqlite' and parsed.database in (
            None, '', ':memory:'):
        raise exception.InvalidCellURL(
            cell=cell, kind='database', url=mask_url(url),
            reason='an in-memory SQLite database cannot hold a cell; name '
                   'a file (sqlite:////path/to/cell.sqlite)')


def cell0_default_connection(main_connection: str) -> str:
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
    database = parsed.database
    if not database or database == ':memory:':
        raise refuse('the local database has no name to add _cell0 to')
    return with_database_suffix(main_connection, '_cell0')


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
