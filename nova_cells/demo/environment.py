"""Where the demo's cells live: their database and message queue URLs.

Every URL is derived from this node's configuration, so the one scenario
runs on the embedded SQLite default and on real servers alike:

* a cell's main database is ``[database] connection`` with ``_<cell>``
  added to the database name (``nova_cells.sqlite`` becomes
  ``nova_cells_cell1.sqlite``; ``.../nova_cells_demo`` becomes
  ``.../nova_cells_demo_cell1``), the rule ``map_cell0`` follows for cell0;
* a cell's message queue is ``[DEFAULT] transport_url`` with the virtual
  host ``nova_cells_demo_<cell>``.

On MySQL and PostgreSQL a database that does not exist yet is created with
plain SQL over the configured credentials (``CREATE DATABASE``; on
PostgreSQL through the ``postgres`` maintenance database), so that user
needs the right to create databases. On RabbitMQ a missing virtual host is
created with ``rabbitmqctl`` when that command works here; when it does
not, the cells share the configured virtual host and the demo says so.

The ``fake://`` driver of oslo.messaging keeps one bus for the whole
process, so on it two cells could never be told apart; :func:`
transport_factory` gives each ``fake://`` URL a bus of its own, as two
RabbitMQ virtual hosts are.
"""

import dataclasses
import shutil
import subprocess
import warnings

import sqlalchemy as sa

from nova_cells import exception
from nova_cells import urls

__all__ = [
    'DEFAULT_TRANSPORT_URL',
    'RABBIT_SCHEMES',
    'VHOST_PREFIX',
    'VirtualHost',
    'cell_transport_url',
    'ensure_database',
    'ensure_virtual_host',
    'is_rabbit',
    'transport_factory',
    'virtual_host_usable',
]

with warnings.catch_warnings():
    # oslo.messaging's import chain warns about eventlet on stderr.
    warnings.simplefilter('ignore')
    import oslo_messaging

    from nova_cells import rpc_fake

#: ``[DEFAULT] transport_url`` when no config sets one: in-process buses,
#: with a password so that the masking in ``list_cells`` shows.
DEFAULT_TRANSPORT_URL = 'fake://nova:demo-secret@localhost/'
#: Prefix of each cell's virtual host.
VHOST_PREFIX = 'nova_cells_demo_'
RABBIT_SCHEMES = ('rabbit', 'amqp')


# -- databases ---------------------------------------------------------------

def _database_exists(connection, backend: str, name: str) -> bool:
    if backend == 'postgresql':
        query = sa.text('SELECT 1 FROM pg_database WHERE datname = :name')
    else:
        query = sa.text('SELECT 1 FROM information_schema.schemata '
                        'WHERE schema_name = :name')
    return connection.execute(query, {'name': name}).first() is not None


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names if it is missing; True if created.

    SQLite files are created by their first connection; only their
    directory is made here.
    """
    reason = urls.database_url_problem(url)
    if reason is not None:
        raise exception.InvalidDatabaseURL(
            database='configured',
            url=urls.mask_url(url), reason=reason)
    parsed = urls.parse_database_url(url)
    backend = parsed.get_backend_name()
    if backend == 'sqlite':
        urls.ensure_sqlite_directory(url)
        return False
    name = parsed.database
    engine = sa.create_engine(
        urls.server_url(url), poolclass=sa.pool.NullPool,
        isolation_level='AUTOCOMMIT')
    try:
        with engine.connect() as connection:
            if _database_exists(connection, backend, name):
                return False
            quoted = engine.dialect.identifier_preparer.quote(name)
            connection.execute(sa.text('CREATE DATABASE %s' % quoted))
    finally:
        engine.dispose()
    return True


# -- message queues ----------------------------------------------------------

def cell_transport_url(default_url: str, cell_name: str) -> str:
    """``default_url`` with the virtual host of ``cell_name``."""
    return urls.with_virtual_host(default_url, VHOST_PREFIX + cell_name)


def is_rabbit(url: str) -> bool:
    return urls.split_url(url).family in RABBIT_SCHEMES


def _first_host(conf, url: str):
    parsed = oslo_messaging.TransportURL.parse(conf, url)
    return parsed.hosts[0], parsed.virtual_host or '/'


def virtual_host_usable(conf, url: str) -> bool:
    import kombu  # an oslo.messaging dependency; only RabbitMQ needs it

    host, vhost = _first_host(conf, url)
    connection = kombu.Connection(
        hostname=host.hostname, port=host.port or 5672,
        userid=host.username or 'guest', password=host.password or 'guest',
        virtual_host=vhost, connect_timeout=3)
    try:
        connection.connect()
    except Exception:  # refused, unknown vhost, no access: all "no"
        return False
    finally:
        connection.release()
    return True


def _rabbitmqctl(*arguments: str) -> bool:
    command = shutil.which('rabbitmqctl')
    if command is None:
        return False
    try:
        subprocess.run([command, '-q', *arguments], check=True,
                       capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


@dataclasses.dataclass(frozen=True)
class VirtualHost:
    """What :func:`ensure_virtual_host` found or did."""

    usable: bool
    created: bool = False


def ensure_virtual_host(conf, url: str) -> VirtualHost:
    """Make sure the RabbitMQ virtual host of ``url`` can be used,
    creating it with ``rabbitmqctl`` (for the URL's user) if it cannot."""
    if virtual_host_usable(conf, url):
        return VirtualHost(usable=True)
    host, vhost = _first_host(conf, url)
    user = host.username or 'guest'
    if (_rabbitmqctl('add_vhost', vhost) and
            _rabbitmqctl('set_permissions', '-p', vhost, user,
                         '.*', '.*', '.*')):
        return VirtualHost(usable=virtual_host_usable(conf, url), created=True)
    return VirtualHost(usable=False)


# One private bus per fake:// URL, as one RabbitMQ vhost per cell.
transport_factory = rpc_fake.isolated_fake_transport
