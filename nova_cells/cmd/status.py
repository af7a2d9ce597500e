"""``nova-cells-status upgrade check``: is this deployment ready to run?

Built on oslo.upgradecheck, as ``nova-status upgrade check`` is, so it
prints the usual result table (``--json`` for scripts) and exits 0 when
every check succeeded, 1 when the worst was a warning, 2 on a failure and
255 when a check itself crashed. The checks:

* cell0 is mapped;
* at least one cell besides cell0 is mapped;
* every compute host of every cell is mapped to its cell;
* every instance of every cell is mapped;
* every cell's database schema is at head.

Cells are read in parallel within ``[cell_database]`` timeouts: a cell
that cannot be read fails the checks that need it, naming it, and never
holds the command up.
"""

import sys

import sqlalchemy as sa
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

from nova_cells import config
from nova_cells import connections
from nova_cells import context as nova_context
from nova_cells import scatter_gather
from nova_cells import urls
from nova_cells.cells_admin import health_check
from nova_cells.conf import CONF
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models
from nova_cells.objects import cell_mapping as cell_mapping_obj

__all__ = [
    'Code',
    'Result',
    'UpgradeCommands',
    'main',
]

Code = upgradecheck.Code
Result = upgradecheck.Result


def _api_values(ctxt, column, where=None) -> set:
    statement = sa.select(column)
    if where is not None:
        statement = statement.where(where)
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        return set(s.execute(statement).scalars())


@db_api.main_reader
def _cell_hosts_and_instances(context) -> tuple[set, set]:
    hosts = set(context.session.execute(sa.select(
        models.ComputeNode.host).where(
            models.ComputeNode.deleted == 0,
            models.ComputeNode.host.is_not(None))).scalars())
    instances = set(context.session.execute(sa.select(
        models.Instance.uuid).where(models.Instance.deleted == 0)).scalars())
    return hosts, instances


def _cell_name(cell) -> str:
    return cell.identity


class UpgradeCommands(upgradecheck.UpgradeCommands):
    """The checks; cell contents are read once and shared by two of them."""

    display_title = 'nova_cells upgrade check results'

    def __init__(self) -> None:
        self._ctxt = None
        self._cells = None
        self._contents = None

    def _context(self):
        if self._ctxt is None:
            self._ctxt = nova_context.get_admin_context()
        return self._ctxt

    def _all_cells(self) -> list:
        if self._cells is None:
            self._cells = list(
                cell_mapping_obj.CellMappingList.get_all(self._context()))
        return self._cells

    def _cell_contents(self) -> dict:
        """``{cell: (hosts, instances) or the failure}`` for non-cell0."""
        if self._contents is None:
            cells = [cell for cell in self._all_cells()
                     if not cell.is_cell0()]
            options = connections.get_registry().conf.cell_database
            timeout = options.connect_timeout + (options.query_timeout or
                                                 30.0)
            outcomes = scatter_gather.scatter_gather_cells(
                self._context(), cells, timeout, _cell_hosts_and_instances)
            self._contents = {cell: outcomes[cell.uuid] for cell in cells}
        return self._contents

    def _unreadable(self) -> list[str]:
        return ['%s (%s)' % (_cell_name(cell), _failure(outcome))
                for cell, outcome in self._cell_contents().items()
                if scatter_gather.is_cell_failure(outcome)]

    def _check_cell0(self) -> Result:
        if any(cell.is_cell0() for cell in self._all_cells()):
            return Result(Code.SUCCESS)
        return Result(Code.FAILURE, 'No cell0 mapping found. Run '
                      '"nova-cells-manage cell_v2 map_cell0" or '
                      '"nova-cells-manage cell_v2 simple_cell_setup".')

    def _check_cells(self) -> Result:
        if any(not cell.is_cell0() for cell in self._all_cells()):
            return Result(Code.SUCCESS)
        return Result(Code.FAILURE, 'No cell mapping other than cell0. Run '
                      '"nova-cells-manage cell_v2 create_cell" or '
                      '"nova-cells-manage cell_v2 simple_cell_setup".')

    def _check_hosts_mapped(self) -> Result:
        mapped = _api_values(self._context(), api_models.HostMapping.host)
        return self._compare('compute host', mapped, 0,
                             'nova-cells-manage cell_v2 discover_hosts')

    def _check_instances_mapped(self) -> Result:
        mapped = _api_values(
            self._context(), api_models.InstanceMapping.instance_uuid,
            api_models.InstanceMapping.cell_id.is_not(None))
        return self._compare('instance', mapped, 1,
                             'nova-cells-manage cell_v2 map_instances '
                             '--cell_uuid CELL_UUID')

    def _compare(self, kind: str, mapped: set, index: int,
                 fix: str) -> Result:
        missing = []
        for cell, outcome in self._cell_contents().items():
            if scatter_gather.is_cell_failure(outcome):
                continue
            unmapped = outcome[index] - mapped
            if unmapped:
                missing.append('%d in cell %s' % (len(unmapped),
                                                  _cell_name(cell)))
        unreadable = self._unreadable()
        if missing:
            return Result(Code.FAILURE, 'Unmapped %ss: %s. Run "%s".' % (
                kind, ', '.join(missing), fix))
        if unreadable:
            return Result(Code.FAILURE, 'Cells that could not be read: '
                          '%s.' % ', '.join(unreadable))
        return Result(Code.SUCCESS)

    def _check_schemas(self) -> Result:
        results = health_check.check_cells(self._context())
        behind = ['%s: %s' % (health.name or health.uuid,
                              '; '.join(health.problems))
                  for health in results
                  if health.schema != health_check.AT_HEAD]
        if behind:
            return Result(Code.FAILURE, 'Cell databases not at head: %s. '
                          'Run "nova-cells-manage db sync --all-cells".' %
                          ', '.join(behind))
        return Result(Code.SUCCESS)

    _upgrade_checks = (
        ('Cell0 mapping', _check_cell0),
        ('Cell mappings', _check_cells),
        ('Compute hosts mapped', _check_hosts_mapped),
        ('Instances mapped', _check_instances_mapped),
        ('Cell database schemas', _check_schemas),
    )


def _failure(outcome) -> str:
    if outcome is scatter_gather.did_not_respond_sentinel:
        return 'did not respond'
    text = str(outcome).strip().splitlines()
    return urls.mask_text(text[0]) if text else type(outcome).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nova-cells-status`` console script."""
    argv = sys.argv if argv is None else argv
    CONF.clear()
    upgradecheck.register_cli_options(CONF, UpgradeCommands())
    try:
        config.parse_args(argv)
    except (cfg.Error, OSError) as error:
        print('ERROR: invalid configuration: %s' % urls.mask_text(str(error)),
              file=sys.stderr)
        # Not 1 or 2, which would read as a check's warning or failure.
        return 255
    return upgradecheck.run(CONF)


if __name__ == '__main__':
    sys.exit(main())
