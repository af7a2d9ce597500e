"""The demo deployment: cells, compute hosts and instances, made once.

Every step looks before it writes, so running the demo again finds what
the first run made and adds nothing: a cell is created only when no cell
has its name, a compute host only when its cell has no node of that name,
and instances only when their cell has none at all.

The layout is fixed, so two runs (and two machines) print the same report:

* cell1 has three compute hosts, cell2 has two;
* instance ``vm-NNN`` number *i* lives on host ``HOSTS[i % 5]``, which
  alternates between the cells, so a listing sorted by name interleaves
  them and cell1 ends up with 3/5 of the instances, cell2 with 2/5;
* cell0, where Nova puts instances that could not be scheduled, gets a few
  ``failed-build-N`` instances in the error state and no host.
"""

import dataclasses
import itertools

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import urls
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.conf import CONF
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.demo import environment

__all__ = [
    'CELLS',
    'CellOutcome',
    'DEFAULT_INSTANCES',
    'DemoCell',
    'FAILED_BUILDS',
    'HOSTS',
    'PROJECTS',
    'Population',
    'USER',
    'ensure_cell_databases',
    'ensure_cells',
    'populate_cell',
]


@dataclasses.dataclass(frozen=True)
class DemoCell:
    name: str
    hosts: tuple[str, ...]


CELLS = (
    DemoCell('cell1', ('cell1-compute1', 'cell1-compute2', 'cell1-compute3')),
    DemoCell('cell2', ('cell2-compute1', 'cell2-compute2')),
)
#: Every compute host, the cells alternating.
HOSTS = tuple(host for host in itertools.chain.from_iterable(
    itertools.zip_longest(*(cell.hosts for cell in CELLS))) if host)
DEFAULT_INSTANCES = 300
FAILED_BUILDS = 3
PROJECTS = ('demo-project-a', 'demo-project-b')
USER = 'demo-user'


# -- cells --------------------------------------------------------------------

@dataclasses.dataclass
class CellOutcome:
    cell: cells_admin.CellMapping
    created: bool
    #: a database created on the server for this cell by this run.
    database_created: bool = False
    #: what the operator should know about its message queue.
    note: str | None = None
    #: its transport URL was changed to this run's configuration.
    repointed: bool = False


def _ensure_cell0(ctxt) -> CellOutcome:
    url = urls.cell0_default_connection(
        urls.local_url(urls.DATABASE))
    try:
        cell0 = cells_admin.get_cell(ctxt, cells_admin.CELL0_UUID)
        return CellOutcome(cell0, created=False)
    except exception.CellMappingNotFound:
        pass
    database_created = environment.ensure_database(url)
    cell0, created = cells_admin.map_cell0(ctxt, url)
    return CellOutcome(cell0, created, database_created)


def _transport_for_new_cell(name: str) -> tuple[str, str | None]:
    """The new cell's transport URL, and a note when it is not its own."""
    default = CONF.transport_url
    url = environment.cell_transport_url(default, name)
    if not environment.is_rabbit(url):
        return url, None
    vhost = environment.ensure_virtual_host(CONF, url)
    if vhost.usable:
        return url, ('virtual host %s created with rabbitmqctl' %
                     urls.virtual_host(url) if vhost.created else None)
    return default, (
        'virtual host %s is missing and rabbitmqctl could not create it; '
        'the cell shares the bus of [DEFAULT] transport_url' %
        urls.virtual_host(url))


def _existing_cell(ctxt, cell: cells_admin.CellMapping) -> CellOutcome:
    """A demo cell made by an earlier run, its message queue checked.

    A cell whose transport URL came from a run with another configuration
    (``fake://`` before ``rabbit://``, say) is repointed at this run's,
    and the note says so: the demo owns its cells, and the header must
    never name a transport the cells do not use.
    """
    url = cell.transport_url
    if urls.has_no_transport(url):
        return CellOutcome(cell, created=False)
    if url not in (CONF.transport_url, environment.cell_transport_url(
            CONF.transport_url, cell.name)):
        transport, note = _transport_for_new_cell(cell.name)
        update = cells_admin.update_cell(ctxt, cell.uuid,
                                         transport_url=transport)
        said = 'repointed from %s (a run with another configuration) to ' \
               '%s' % (urls.mask_url(url), urls.mask_url(transport))
        return CellOutcome(update.cell, created=False, repointed=True,
                           note=said + ('; ' + note if note else ''))
    if not environment.is_rabbit(url):
        return CellOutcome(cell, created=False)
    vhost = environment.ensure_virtual_host(CONF, url)
    note = None
    if vhost.created:
        note = ('virtual host %s created again with rabbitmqctl' %
                urls.virtual_host(url))
    elif not vhost.usable:
        note = 'its message queue cannot be reached: %s' % urls.mask_url(url)
    return CellOutcome(cell, created=False, note=note)


def ensure_cells(ctxt: nova_context.RequestContext) -> list[CellOutcome]:
    """cell0 and the demo cells, created where missing, cell0 first."""
    outcomes = [_ensure_cell0(ctxt)]
    existing = {cell.name: cell for cell in cells_admin.list_cells(ctxt)}
    for demo_cell in CELLS:
        cell = existing.get(demo_cell.name)
        if cell is not None:
            outcomes.append(_existing_cell(ctxt, cell))
            continue
        database = urls.with_database_suffix(
            urls.local_url(urls.DATABASE), '_' + demo_cell.name)
        database_created = environment.ensure_database(database)
        transport, note = _transport_for_new_cell(demo_cell.name)
        cell = cells_admin.create_cell(ctxt, name=demo_cell.name,
                                       transport_url=transport,
                                       database_connection=database)
        outcomes.append(CellOutcome(cell, True, database_created, note))
    return outcomes


def ensure_cell_databases(cells: list[cells_admin.CellMapping]) -> list[str]:
    """Create any missing database of the local node or a cell (a server
    whose databases were dropped since the last run); returns their
    names."""
    created = []
    for url in [urls.local_url(urls.DATABASE)] + [
            cell.database_connection for cell in cells]:
        if environment.ensure_database(url):
            created.append(urls.database_name(url))
    return created


# -- compute hosts and instances ---------------------------------------------

@dataclasses.dataclass
class Population:
    """What one cell held before this run, and what the run added."""

    cell: str
    hosts_created: int = 0
    hosts_found: int = 0
    instances_created: int = 0
    instances_found: int = 0


def _add_compute_host(cctxt, host: str) -> None:
    """A nova-compute service and its compute node, in one transaction
    (so a failed run never leaves a service without its node)."""
    with db_api.get_context_manager(cctxt).writer.using(cctxt):
        db_api.service_create(cctxt, {
            'host': host, 'binary': hosts_admin.COMPUTE_BINARY,
            'topic': 'compute', 'report_count': 1})
        db_api.compute_node_create(cctxt, {
            'host': host, 'hypervisor_hostname': host + '.demo',
            'hypervisor_type': 'fake', 'vcpus': 32, 'memory_mb': 131072,
            'local_gb': 2048})


def _instance_values(index: int, host: str) -> dict:
    return {'display_name': 'vm-%03d' % index,
            'hostname': 'vm-%03d' % index,
            'project_id': PROJECTS[index % len(PROJECTS)],
            'user_id': USER, 'host': host, 'node': host + '.demo',
            'vm_state': 'active', 'power_state': 1,
            'availability_zone': 'nova'}


def _failed_build_values(index: int) -> dict:
    return {'display_name': 'failed-build-%d' % index,
            'hostname': 'failed-build-%d' % index,
            'project_id': PROJECTS[0], 'user_id': USER,
            'vm_state': 'error', 'power_state': 0}


def _create_instances(cctxt, all_values: list[dict]) -> None:
    """One transaction for the lot: each ``instance_create`` joins it."""
    with db_api.get_context_manager(cctxt).writer.using(cctxt):
        for values in all_values:
            db_api.instance_create(cctxt, values)


def populate_cell(ctxt, cell: cells_admin.CellMapping,
                  total_instances: int) -> Population:
    """Compute hosts and instances of one cell (cell0: failed builds)."""
    population = Population(cell.name or cell.uuid)
    demo_cell = next((c for c in CELLS if c.name == cell.name), None)
    with cell.target(ctxt) as cctxt:
        if demo_cell is not None:
            known = {node.host for node in db_api.compute_node_get_all(
                cctxt)}
            for host in demo_cell.hosts:
                if host in known:
                    population.hosts_found += 1
                else:
                    _add_compute_host(cctxt, host)
                    population.hosts_created += 1
        population.instances_found = db_api.instance_count(cctxt)
        if population.instances_found:
            return population
        if cell.is_cell0():
            values = [_failed_build_values(index)
                      for index in range(1, FAILED_BUILDS + 1)]
        elif demo_cell is not None:
            values = [_instance_values(index, HOSTS[index % len(HOSTS)])
                      for index in range(total_instances)
                      if HOSTS[index % len(HOSTS)] in demo_cell.hosts]
        else:
            values = []
        _create_instances(cctxt, values)
        population.instances_created = len(values)
    return population
