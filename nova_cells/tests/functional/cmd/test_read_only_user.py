"""A read-only API database user (SELECT only) on MySQL/MariaDB and
PostgreSQL, through the console script: the commands that only read work
and print what is there; the commands that write fail with one line saying
so, non-zero, without a traceback or the user's password, and change
nothing. (SQLite's read-only file is in :mod:`test_bad_input`.)"""

from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.cells_admin import instances as instances_admin
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api_models
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import builders
from nova_cells.tests.fixtures import cli
from nova_cells.tests.fixtures import database as database_fixture

MAPPED_HOST = 'ro-compute1'
UNMAPPED_HOST = 'ro-compute2'


class _ReadOnlyUserTests:
    """Written once; the subclasses below name the backend."""

    # The API schema comes from api_db sync, as an operator's does.
    API_SCHEMA = False

    def setUp(self):
        super().setUp()
        self.manage('sync', category='api_db')
        # The rest of the deployment is made in-process (as the writable
        # user): the console script's start-up is what these tests pay for.
        self.local = cli.InProcess(self)
        ctxt = self.local.context
        cell0_url, cell1_url, self.spare_url = self.cell_urls(3)
        cells_admin.map_cell0(ctxt, cell0_url)
        self.cell1 = builders.create_cell(ctxt, cell1_url, 'cell1',
                                         'fake://ro@localhost/cell1')
        self.add_compute_node(MAPPED_HOST)
        self.instance = builders.add_instances(cell1_url, 1,
                                              host=MAPPED_HOST)[0]
        hosts_admin.discover_hosts(ctxt)
        instances_admin.map_instances(ctxt, self.cell1.uuid)
        # Left for the writing commands to find: a host and an instance.
        self.add_compute_node(UNMAPPED_HOST)
        self.unmapped = builders.add_instances(cell1_url, 1)[0]
        user = self.useFixture(database_fixture.ReadOnlyUser(
            self.BACKEND, self.api_url))
        self.password = user.password
        # From here on every command runs as the read-only user.
        self.api_url = user.url
        self.config_file = self.write_config()

    def add_compute_node(self, host: str) -> None:
        with self.cell1.target(self.local.context) as cctxt:
            builders.add_compute_nodes(cctxt, host)

    def stored(self) -> tuple:
        """Every cell and how many host and instance mappings exist."""
        ctxt = self.local.context
        return ([(cell.uuid, cell.name, cell.transport_url,
                  cell.database_connection)
                 for cell in cells_admin.list_cells(ctxt)],
                builders.api_count(ctxt, api_models.HostMapping),
                builders.api_count(ctxt, api_models.InstanceMapping))

    def assertQuietAndSecret(self, result) -> None:
        self.assertNotIn('Traceback', result.stdout + result.stderr)
        self.assertNotIn(self.password, result.stdout + result.stderr)

    def test_read_only_commands_work(self):
        cells, hosts, verified, unmapped = self.manage_at_once(
            (('list_cells',), 0),
            (('list_hosts',), 0),
            (('verify_instance', '--uuid', self.instance), 0),
            (('verify_instance', '--uuid', self.unmapped), 1))
        version = self.manage('version', category='api_db')
        for result in (cells, hosts, verified, unmapped, version):
            self.assertEqual('', result.stderr)
            self.assertQuietAndSecret(result)
        self.assertIn('| cell0 ', cells.stdout)
        self.assertIn('| cell1 | %s |' % self.cell1.uuid, cells.stdout)
        self.assertIn(MAPPED_HOST, hosts.stdout)
        self.assertNotIn(UNMAPPED_HOST, hosts.stdout)
        self.assertIn(self.cell1.uuid, verified.stdout)
        self.assertIn('not mapped', unmapped.stdout)
        self.assertEqual(migration.head(migration.API),
                         version.stdout.strip().splitlines()[-1])

    def test_writing_commands_fail_saying_why_and_change_nothing(self):
        before = self.stored()
        cell1 = self.cell1.uuid
        results = self.manage_at_once(
            (('create_cell', '--name', 'cell2', '--transport-url',
              'fake://ro@localhost/cell2', '--database_connection',
              self.spare_url), 1),
            (('update_cell', '--cell_uuid', cell1, '--name', 'renamed'), 1),
            # "a cell could not be searched", as for an unreachable one.
            (('discover_hosts',), 3),
            (('map_instances', '--cell_uuid', cell1), 1),
            (('delete_cell', '--cell_uuid', cells_admin.CELL0_UUID,
              '--force-cell0'), 1))
        for result in results:
            self.assertOneErrorLine(result, 'permission denied',
                                    'the API database is read-only')
            self.assertQuietAndSecret(result)
        self.assertEqual(before, self.stored())


class TestReadOnlyUserOnMySQL(_ReadOnlyUserTests,
                              cli.CellV2TestCase):
    BACKEND = backends.MYSQL


class TestReadOnlyUserOnPostgreSQL(_ReadOnlyUserTests,
                                   cli.CellV2TestCase):
    BACKEND = backends.POSTGRESQL
