"""The two migration lines, API and main: their alembic configuration and
their revisions.

Each line is an alembic environment of its own (``api_migrations/``,
``main_migrations/``) recording its revision in a version table of its own
(:data:`VERSION_TABLES`), never in Nova's ``alembic_version``.
"""

import dataclasses
import os

from alembic import config as alembic_config_module
from alembic import script as alembic_script

from nova_cells import exception

__all__ = [
    'ALEMBIC_VERSION_TABLE',
    'API',
    'HEAD',
    'LINES',
    'Line',
    'MAIN',
    'VERSION_TABLES',
    'alembic_config',
    'head',
    'line_of',
    'other_line',
    'resolve_revision',
    'revisions',
    'script_directory',
]

API = 'api'
MAIN = 'main'
HEAD = 'head'
#: Where Nova's alembic lines (and releases of this project before it had
#: version tables of its own) record their revision.
ALEMBIC_VERSION_TABLE = 'alembic_version'
#: Where each line of this project records its revision.
VERSION_TABLES = {API: 'nova_cells_api_version',
                  MAIN: 'nova_cells_main_version'}


@dataclasses.dataclass(frozen=True)
class Line:
    """One alembic environment and where it records its revision."""

    name: str
    label: str
    directory: str
    conf_group: str
    version_table: str


LINES = {
    API: Line(API, 'API', 'api_migrations', 'api_database',
              VERSION_TABLES[API]),
    MAIN: Line(MAIN, 'main', 'main_migrations', 'database',
               VERSION_TABLES[MAIN]),
}


def line_of(database: str) -> Line:
    """:raises InvalidDatabaseName: neither 'api' nor 'main'."""
    try:
        return LINES[database]
    except (KeyError, TypeError):
        raise exception.InvalidDatabaseName(database=database) from None


def alembic_config(database: str = API, connection=None):
    """An alembic ``Config`` for a line, optionally bound to a connection.

    :raises InvalidDatabaseName: ``database`` is neither 'api' nor 'main'.
    """
    line = line_of(database)
    config = alembic_config_module.Config()
    location = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            line.directory)
    # The ini layer interpolates '%'; a path is the only value it ever sees.
    config.set_main_option('script_location', location.replace('%', '%%'))
    config.attributes['version_table'] = line.version_table
    if connection is not None:
        config.attributes['connection'] = connection
    return config


def script_directory(database: str):
    """The alembic ``ScriptDirectory`` of a line."""
    return alembic_script.ScriptDirectory.from_config(
        alembic_config(database))


def revisions(database: str = API) -> list[str]:
    """Every revision id of a line, oldest first."""
    script = script_directory(database)
    return [revision.revision
            for revision in reversed(list(script.walk_revisions()))]


def head(database: str = API) -> str:
    """The newest revision id of a line."""
    return script_directory(database).get_current_head()


def resolve_revision(database: str, version: str | None) -> str:
    """The full revision id ``version`` names: None and 'head' mean head.

    A unique prefix of an id is accepted (``api_0002``), as alembic does.
    """
    known = revisions(database)
    if version is None or version == HEAD:
        return known[-1]
    version = str(version)
    matches = [revision for revision in known
               if revision == version or revision.startswith(version)]
    if version in matches:
        return version
    if len(matches) == 1:
        return matches[0]
    raise exception.InvalidRevision(database=line_of(database).label,
                                    revision=version,
                                    known=', '.join(known + [HEAD]))


def other_line(line: Line) -> Line:
    """The line ``line`` is not (a database of it is the wrong URL)."""
    return LINES[MAIN if line.name == API else API]
