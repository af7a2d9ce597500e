"""Where a line records its revision, and what ``db_sync`` does with a
database whose version table records none: move the revision out of
``alembic_version``, adopt a database Nova migrated (its alembic line or
sqlalchemy-migrate), or start from an empty schema. Every refusal
changes nothing and says why (the rules are in :mod:`nova_cells.db.
migration`'s docstring).
"""

import logging

import sqlalchemy as sa
from alembic import command

from nova_cells import exception
from nova_cells.db import legacy
from nova_cells.db.migration_lines import ALEMBIC_VERSION_TABLE
from nova_cells.db.migration_lines import MAIN
from nova_cells.db.migration_lines import Line
from nova_cells.db.migration_lines import alembic_config
from nova_cells.db.migration_lines import line_of
from nova_cells.db.migration_lines import other_line
from nova_cells.db.migration_lines import revisions

__all__ = [
    'current_revision',
    'line_revisions',
    'move_or_adopt',
    'nova_manages',
    'recorded_revisions',
]

LOG = logging.getLogger(__name__)


def _stored_revisions(connection, table: str) -> list[str] | None:
    """Revisions recorded in ``table``; None when there is no such table."""
    if not sa.inspect(connection).has_table(table):
        return None
    version = sa.table(table, sa.column('version_num'))
    return list(connection.execute(
        sa.select(version.c.version_num)).scalars())


def line_revisions(connection, line: Line) -> list[str] | None:
    """This line's revisions: from its version table, else from an
    ``alembic_version`` holding only this line's (not moved yet)."""
    stored = _stored_revisions(connection, line.version_table)
    if stored is not None:
        return stored
    stored = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    if stored and set(stored) <= set(revisions(line.name)):
        return stored
    return None


def recorded_revisions(connection, database: str = MAIN) -> list[str]:
    """The revisions a line has recorded in the database ``connection``
    reaches, wherever it keeps them (its version table, or an
    ``alembic_version`` not moved yet); empty when it has none.

    Health checks read this rather than a table name of their own, so
    they follow the version table wherever it lives.
    """
    return line_revisions(connection, line_of(database)) or []


def nova_manages(connection) -> bool:
    """True when Nova's alembic line manages this database too.

    Revisions call this to leave Nova's objects alone: on such a database
    they only add objects of their own. A database this project migrated
    on its own has no ``alembic_version`` once its revision has moved to
    the line's version table, which :func:`db_sync` does before upgrading.
    """
    return sa.inspect(connection).has_table(ALEMBIC_VERSION_TABLE)


def current_revision(connection, line: Line, masked_url: str):
    """The revision in the line's version table (None: no table, or
    empty); refuses one this release does not know."""
    stored = _stored_revisions(connection, line.version_table)
    if not stored:
        return None
    known = revisions(line.name)
    unknown = [revision for revision in stored if revision not in known]
    if not unknown and len(stored) > 1:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s records several revisions (%s) in %s but '
            'this line has a single history. Nothing was changed.' % (
                line.label, masked_url, ', '.join(stored),
                line.version_table)))
    if unknown:
        other = other_line(line)
        hint = (' (a %s database revision: is this the right database?)' %
                other.label if set(unknown) & set(revisions(other.name))
                else '')
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is at revision %s, which this version '
            'of nova_cells does not know%s; known revisions: %s. Nothing '
            'was changed.' % (line.label, masked_url, ', '.join(stored),
                              hint, ', '.join(known))))
    _finish_move(connection, line, masked_url)
    return stored[0]


def _refuse_other_line(connection, line: Line, masked_url: str) -> None:
    """Refuse a database the other line manages: the wrong URL."""
    other = other_line(line)
    found = _stored_revisions(connection, other.version_table)
    moved = _stored_revisions(connection, ALEMBIC_VERSION_TABLE) or []
    found = found or [revision for revision in moved
                      if revision in revisions(other.name)]
    if found:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s is at revision %s, a %s database '
            'revision: is this the right database? Nothing was changed.' % (
                line.label, masked_url, ', '.join(found), other.label)))


def _finish_move(connection, line: Line, masked_url: str) -> None:
    """Drop an ``alembic_version`` left holding only this line's revisions
    next to its version table: a move MySQL's DDL commits cut short."""
    stored = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    if stored and set(stored) <= set(revisions(line.name)):
        LOG.info('Dropping the %s left by an earlier move of the %s '
                 'database at %s', ALEMBIC_VERSION_TABLE, line.label,
                 masked_url)
        sa.Table(ALEMBIC_VERSION_TABLE, sa.MetaData()).drop(connection)


def _stamp(connection, line: Line, revision: str) -> str:
    command.stamp(alembic_config(line.name, connection), revision)
    return revision


def move_or_adopt(connection, line: Line, masked_url: str):
    """The revision to start from when the line's version table records
    none: moved from ``alembic_version``, adopted, or None (empty)."""
    _refuse_other_line(connection, line, masked_url)
    layout = legacy.LAYOUTS[line.name]
    inspector = sa.inspect(connection)
    alembic_revisions = _stored_revisions(connection, ALEMBIC_VERSION_TABLE)
    known = revisions(line.name)
    ours = [revision for revision in alembic_revisions or ()
            if revision in known]
    if ours:
        foreign = sorted(set(alembic_revisions) - set(ours))
        if foreign or len(ours) > 1:
            raise exception.DatabaseMigrationError(reason=(
                'the %s database at %s records revisions %s in %s; '
                'refusing to guess which is current. Nothing was '
                'changed.' % (line.label, masked_url,
                              ', '.join(alembic_revisions),
                              ALEMBIC_VERSION_TABLE)))
        LOG.info('Moving the revision %s of the %s database at %s from %s '
                 'to %s', ours[0], line.label, masked_url,
                 ALEMBIC_VERSION_TABLE, line.version_table)
        _stamp(connection, line, ours[0])
        _finish_move(connection, line, masked_url)
        return ours[0]
    if alembic_revisions is not None:
        legacy.verify_nova_alembic(connection, line.name, line.label,
                                   masked_url, alembic_revisions)
        LOG.info("Adopting the %s database at %s, at Nova's revision %s: "
                 'recording %s in %s', line.label, masked_url,
                 ', '.join(alembic_revisions) or '(none)', layout.revision,
                 line.version_table)
        return _stamp(connection, line, layout.revision)
    if inspector.has_table(legacy.MIGRATE_VERSION_TABLE):
        legacy.verify(connection, line.name, line.label, masked_url)
        LOG.info('Adopting the legacy %s database at %s: recording %s in %s',
                 line.label, masked_url, layout.revision, line.version_table)
        return _stamp(connection, line, layout.revision)
    existing = sorted(set(layout.table_names) &
                      set(inspector.get_table_names()))
    if existing:
        raise exception.DatabaseMigrationError(reason=(
            'the %s database at %s has tables (%s) but records no schema '
            'revision (no %s, no alembic_version, no migrate_version); '
            'refusing to guess what they are. Nothing was changed.' % (
                line.label, masked_url, ', '.join(existing),
                line.version_table)))
    return None
