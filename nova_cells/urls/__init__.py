"""Everything about database and transport URLs, in one place.

* :mod:`~nova_cells.urls.parsing`: the one split of a URL into its parts
  (passwords may hold ``@ : / ? # %``), the project's database drivers,
  "which SQLite file is this", the ``_cell0`` suffix, virtual hosts.
* :mod:`~nova_cells.urls.masking`: what a person may see of a URL.
* :mod:`~nova_cells.urls.templates`: cell URL templates, filled from this
  node's own URLs.
* :mod:`~nova_cells.urls.identity`: which database or queue a URL reaches,
  however it is spelled.
* :mod:`~nova_cells.urls.checks`: why a URL cannot be used, and the checks
  the cell commands run before storing one.

The names below are the interface; callers import this package
(``from nova_cells import urls``), not its modules. The connection
registry (:mod:`nova_cells.connections`) only maps URLs to keys, facades
and transports.
"""

from nova_cells.urls.checks import DATABASE
from nova_cells.urls.checks import TRANSPORT
from nova_cells.urls.checks import cell0_default_connection
from nova_cells.urls.checks import cell_database_problem
from nova_cells.urls.checks import check_database_connection
from nova_cells.urls.checks import check_transport_url
from nova_cells.urls.checks import database_url_problem
from nova_cells.urls.checks import filled
from nova_cells.urls.checks import given_transport_url_problem
from nova_cells.urls.checks import transport_url_problem
from nova_cells.urls.identity import Reached
from nova_cells.urls.identity import database_reached
from nova_cells.urls.identity import may_be_same
from nova_cells.urls.identity import queue_reached
from nova_cells.urls.masking import MASK
from nova_cells.urls.masking import mask_text
from nova_cells.urls.masking import mask_url
from nova_cells.urls.masking import passwords
from nova_cells.urls.parsing import PROJECT_DRIVERS
from nova_cells.urls.parsing import database_name
from nova_cells.urls.parsing import engine_url
from nova_cells.urls.parsing import ensure_sqlite_directory
from nova_cells.urls.parsing import has_no_transport
from nova_cells.urls.parsing import parse_database_url
from nova_cells.urls.parsing import server_url
from nova_cells.urls.parsing import split_url
from nova_cells.urls.parsing import sqlite_file
from nova_cells.urls.parsing import sqlite_path
from nova_cells.urls.parsing import virtual_host
from nova_cells.urls.parsing import with_database_suffix
from nova_cells.urls.parsing import with_virtual_host
from nova_cells.urls.templates import Rendering
from nova_cells.urls.templates import fill
from nova_cells.urls.templates import is_template
from nova_cells.urls.templates import local_url
from nova_cells.urls.templates import render
from nova_cells.urls.templates import render_field
from nova_cells.urls.templates import template_error
from nova_cells.urls.templates import url_variables

__all__ = [
    'DATABASE',
    'MASK',
    'PROJECT_DRIVERS',
    'Reached',
    'Rendering',
    'TRANSPORT',
    'cell0_default_connection',
    'cell_database_problem',
    'check_database_connection',
    'check_transport_url',
    'database_name',
    'database_reached',
    'database_url_problem',
    'engine_url',
    'ensure_sqlite_directory',
    'fill',
    'filled',
    'given_transport_url_problem',
    'has_no_transport',
    'is_template',
    'local_url',
    'mask_text',
    'mask_url',
    'may_be_same',
    'parse_database_url',
    'passwords',
    'queue_reached',
    'render',
    'render_field',
    'server_url',
    'split_url',
    'sqlite_file',
    'sqlite_path',
    'template_error',
    'transport_url_problem',
    'url_variables',
    'virtual_host',
    'with_database_suffix',
    'with_virtual_host',
]
