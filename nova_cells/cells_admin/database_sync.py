"""``db sync --all-cells``: migrate the main database of every cell.

Nova's ``db sync`` migrates the local main database and cell0 only; an
operator with ten cells runs it ten times with ten config files. Here one
command migrates the local main database and then every mapped cell (cell0
included), one after the other, each in its own transaction. A cell that
fails (unreachable, a schema this project will not touch) is reported and
the others are still migrated; the caller turns any failure into a
non-zero exit code.

Cells run one at a time rather than through scatter-gather on purpose: a
migration must never be abandoned half-way by a timeout, and the per-cell
report is what an operator reads.
"""

import dataclasses
from collections.abc import Callable

from nova_cells import context as nova_context
from nova_cells import urls
from nova_cells.db import migration
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'CellSync',
    'LOCAL',
    'sync_all_cells',
]

LOCAL = '[database] connection'


@dataclasses.dataclass(frozen=True)
class CellSync:
    """The outcome for one database."""

    #: ``uuid(name)`` of the cell, or :data:`LOCAL`.
    target: str
    #: the database URL, password masked.
    url: str
    #: the revision reached, when it succeeded.
    revision: str | None = None
    #: why it failed (one line), when it did.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _one_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(error).__name__


def _sync(label: str, url: str, version: str | None, context) -> CellSync:
    try:
        migration.db_sync(version, database=migration.MAIN, context=context)
        revision = migration.db_version(database=migration.MAIN,
                                        context=context)
    except Exception as error:  # every failure is reported, none stops us
        return CellSync(label, urls.mask_url(url), error=urls.mask_text(
            _one_line(error)))
    return CellSync(label, urls.mask_url(url), revision=revision)


def sync_all_cells(ctxt: nova_context.RequestContext,
                   version: str | None = None,
                   report: Callable[[CellSync], None] | None = None
                   ) -> list[CellSync]:
    """Migrate the local main database, then every mapped cell's.

    A cell whose database is the local one is not migrated twice.
    ``report`` is called after each database, so the operator sees
    progress on a long run.

    :raises InvalidRevision: ``version`` is unknown (before any database is
        touched).
    """
    if version is not None:
        # Resolve once up front: an unknown revision touches nothing.
        migration.resolve_revision(migration.MAIN, version)
    report = report or (lambda _outcome: None)
    local = urls.local_url('database_connection')
    outcomes = [_sync(LOCAL, local, version, None)]
    report(outcomes[0])
    done = {local}
    for cell in cell_mapping_obj.CellMappingList.get_all(ctxt):
        url = cell.database_connection
        if url in done:
            continue
        done.add(url)
        try:
            with cell.target(ctxt) as cctxt:
                outcome = _sync(cell.identity, url, version, cctxt)
        except Exception as error:  # cannot even target it (bad template)
            outcome = CellSync(cell.identity, urls.mask_url(url),
                               error=urls.mask_text(_one_line(error)))
        outcomes.append(outcome)
        report(outcome)
    return outcomes
