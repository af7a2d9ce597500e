"""The demo's read-only sections: how a request finds its cell.

Each function prints one section and returns what the summary needs. None
writes anything, so they print the same thing on every run. Tables use the
layout of ``nova-cells-manage`` (:mod:`nova_cells.cmd.cell_v2`), and the
operator commands they stand for are called through that module, so what
the demo prints is what an operator would see.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import oslo_messaging
import sqlalchemy as sa

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import instance_list
from nova_cells import rpc
from nova_cells import scatter_gather
from nova_cells import urls
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.cmd import cell_v2
from nova_cells.cmd import common
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import api_models
from nova_cells.demo import environment
from nova_cells.objects import instance_mapping as instance_mapping_obj

__all__ = [
    'CALLS_PER_CELL',
    'Counts',
    'PAGE_SIZE',
    'RPC_TIMEOUT',
    'RPC_TOPIC',
    'WhichCell',
    'count_per_cell',
    'first_page',
    'pick_instance',
    'rpc_round_trips',
    'show_instance',
    'table',
    'verify_instance',
]

#: Rows of the merged first page.
PAGE_SIZE = 10
RPC_TOPIC = 'nova_cells_demo'
RPC_TIMEOUT = 10
CALLS_PER_CELL = 3


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(common.table(headers, rows))


def _outcome_text(outcome: Any) -> str:
    if outcome is scatter_gather.did_not_respond_sentinel:
        return 'did not respond'
    return 'failed: %s' % common.error_line(outcome)


# -- one instance -------------------------------------------------------------

def pick_instance(ctxt, cell: cells_admin.CellMapping) -> str | None:
    """The uuid of the cell's first instance by name: the same every run."""
    with cell.target(ctxt) as cctxt:
        rows = db_api.instance_get_all_by_filters(
            cctxt, sort_keys=['display_name'], sort_dirs=['asc'], limit=1)
    return rows[0].uuid if rows else None


def verify_instance(uuid: str) -> int:
    """``cell_v2 verify_instance``; its exit code, spelled out."""
    code = cell_v2.verify_instance(uuid)
    print('exit code %d (%s)' % (
        code, instances_admin.InstanceStatus(code).name.lower()))
    return code


def show_instance(ctxt, uuid: str) -> None:
    """Nova's routed ``GET /servers/{uuid}``: mapping, target, read."""
    mapping = instance_mapping_obj.InstanceMapping.get_by_instance_uuid(
        ctxt, uuid)
    print('a) API database: InstanceMapping.get_by_instance_uuid -> '
          'cell %s' % mapping.cell_mapping.identity)
    with mapping.target(ctxt) as cctxt:
        print('b) mapping.target(ctxt): a copy of the context carrying a '
              'registry key, no URL: db_connection=%s' % cctxt.db_connection)
        instance = db_api.instance_get_by_uuid(cctxt, uuid)
    print("c) that cell's main database: instance_get_by_uuid(cctxt)")
    table(['Field', 'Value'], [
        [name, getattr(instance, name)] for name in (
            'uuid', 'display_name', 'project_id', 'host', 'node',
            'vm_state', 'created_at')])


# -- every cell ---------------------------------------------------------------

def first_page(ctxt, names: dict[str, str]) -> instance_list.InstanceListPage:
    """The first page of every cell's instances by name, merged."""
    page = instance_list.instance_get_all_across_cells(
        ctxt, sort_keys=['display_name'], sort_dirs=['asc'],
        limit=PAGE_SIZE)
    print('instance_get_all_across_cells(sort_keys=[display_name], '
          'limit=%d): one query per cell at once, merged' % PAGE_SIZE)
    table(['#', 'Name', 'UUID', 'Host', 'Cell'], [
        [number, item.instance.display_name, item.instance.uuid,
         item.instance.host or '-', names.get(item.cell_uuid,
                                              item.cell_uuid)]
        for number, item in enumerate(page.instances, 1)])
    for cell_uuid, error in sorted(page.failed_cells.items()):
        print('cell %s is missing from the page: %s' % (
            names.get(cell_uuid, cell_uuid), _outcome_text(error)))
    for cell_uuid in sorted(page.unresponsive_cells):
        print('cell %s is missing from the page: did not respond' %
              names.get(cell_uuid, cell_uuid))
    print('next page marker: %s' % page.next_marker)
    return page


def _mapped_per_cell(ctxt) -> dict[str, int]:
    """{cell uuid: instance mappings} from the API database."""
    mappings = api_models.InstanceMapping
    cells = api_models.CellMapping
    statement = sa.select(cells.uuid, sa.func.count(mappings.id)).join(
        mappings, mappings.cell_id == cells.id).group_by(cells.uuid)
    with db_api.get_context_manager(ctxt, 'api').reader.using(ctxt) as s:
        return dict(s.execute(statement).all())


@dataclasses.dataclass
class Counts:
    instances: dict[str, int]
    mapped: dict[str, int]
    failures: dict[str, str]

    @property
    def consistent(self) -> bool:
        """Every cell answered and every instance has a mapping."""
        return not self.failures and self.instances == {
            uuid: self.mapped.get(uuid, 0) for uuid in self.instances}


def count_per_cell(ctxt, cells: list[cells_admin.CellMapping]) -> Counts:
    """``instance_count`` in every cell at once, against the mappings."""
    outcomes = scatter_gather.scatter_gather_all_cells(
        ctxt, db_api.instance_count)
    without_cell0 = scatter_gather.scatter_gather_skip_cell0(
        ctxt, db_api.instance_count)
    mapped = _mapped_per_cell(ctxt)
    counts = Counts({}, mapped, {})
    rows = []
    for cell in cells:
        outcome = outcomes.get(cell.uuid, scatter_gather.
                               did_not_respond_sentinel)
        if scatter_gather.is_cell_failure(outcome):
            counts.failures[cell.uuid] = _outcome_text(outcome)
            shown = counts.failures[cell.uuid]
        else:
            counts.instances[cell.uuid] = shown = outcome
        rows.append([cell.name, cell.uuid, shown, mapped.get(cell.uuid, 0)])
    rows.append(['total', '', sum(counts.instances.values()),
                 sum(mapped.values())])
    print('scatter_gather_all_cells(instance_count) -> instances; '
          'the API database -> mappings')
    table(['Cell', 'UUID', 'Instances', 'Mapped'], rows)
    answered = [value for value in without_cell0.values()
                if not scatter_gather.is_cell_failure(value)]
    print('scatter_gather_skip_cell0(instance_count): %d instances in %d '
          'cells' % (sum(answered), len(without_cell0)))
    return counts


# -- RPC ----------------------------------------------------------------------

class WhichCell:
    """An RPC endpoint answering with its own cell's name, and the cell
    the context it was handed is targeted at."""

    target = oslo_messaging.Target(version='1.0')

    def __init__(self, cell_name: str) -> None:
        self.cell_name = cell_name

    def which_cell(self, ctxt) -> dict:
        return {'server': self.cell_name, 'cell_uuid': ctxt.cell_uuid}


def _shared_transports(cells) -> bool:
    urls = [cell.transport_url for cell in cells]
    return len(set(urls)) < len(urls)


def _start_servers(cells) -> list:
    servers = []
    for cell in cells:
        serving = nova_context.get_admin_context()
        nova_context.set_target_cell(serving, cell)
        server = rpc.get_server(
            oslo_messaging.Target(topic=RPC_TOPIC, server='demo'),
            [WhichCell(cell.name)], context=serving)
        server.start()
        servers.append(server)
    return servers


def _stop_servers(servers: list) -> None:
    for server in servers:
        server.stop()
    for server in servers:
        server.wait()


def _answered_by(server: str, targeted_at: str) -> str:
    return "%s's server, in a context targeted at %s" % (server,
                                                        targeted_at)


def _call(router, ctxt, cell, names: dict[str, str]) -> tuple[str, bool]:
    """Call the cell :data:`CALLS_PER_CELL` times; say who answered.

    Several calls, because were both servers on one bus (the mistake this
    shows is absent), each call would go to whichever server polls first,
    and a single call could come back right by luck.
    """
    answers = []
    with cell.target(ctxt) as cctxt:
        try:
            for _attempt in range(CALLS_PER_CELL):
                answer = router.client(cctxt).call(cctxt, 'which_cell')
                answers.append(_answered_by(answer['server'], names.get(
                    answer['cell_uuid'], answer['cell_uuid'])))
        except exception.CellHasNoMessageQueue:
            # Nova would quietly use the default bus; nothing is sent.
            return ('refused, nothing sent (CellHasNoMessageQueue)',
                    cell.is_cell0())
        except Exception as error:  # timeout, broker gone: reported
            return 'failed: %s' % common.error_line(error), False
    expected = _answered_by(cell.name, cell.name)
    wrong = sorted(set(answers) - {expected})
    text = '%d of %d answered by %s' % (answers.count(expected),
                                        len(answers), expected)
    if wrong:
        text += '; others by %s' % ' and '.join(wrong)
    return text, not wrong


def rpc_round_trips(ctxt, conf, cells: list[cells_admin.CellMapping]
                    ) -> bool:
    """Call every cell through a ClientRouter; True if each answer came
    from the cell's own server (and cell0 was refused)."""
    names = {cell.uuid: cell.name for cell in cells}
    cells_with_queue = [cell for cell in cells if not cell.is_cell0()]
    if _shared_transports(cells_with_queue):
        print('skipped: the cells share one message queue, so an answer '
              'could come from any cell')
        return True
    unusable = [cell.name for cell in cells_with_queue
                if environment.is_rabbit(cell.transport_url) and
                not environment.virtual_host_usable(conf,
                                                    cell.transport_url)]
    if unusable:
        print('skipped: cannot connect to the message queue of %s' %
              ', '.join(unusable))
        return False
    servers = _start_servers(cells_with_queue)
    try:
        router = rpc.ClientRouter(rpc.get_client(
            oslo_messaging.Target(topic=RPC_TOPIC, version='1.0'),
            timeout=RPC_TIMEOUT))
        results = [(cell, *_call(router, ctxt, cell, names))
                   for cell in cells]
    finally:
        _stop_servers(servers)
    print("one server per cell, each on its own cell's bus, all with topic "
          '%s and server name "demo"' % RPC_TOPIC)
    table(['Cell', 'Transport URL', 'call(which_cell) x%d' % CALLS_PER_CELL], [
        [cell.name, urls.mask_url(cell.transport_url), text]
        for cell, text, _ok in results])
    return all(ok for _cell, _text, ok in results)
