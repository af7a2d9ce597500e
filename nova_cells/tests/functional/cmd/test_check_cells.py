"""``cell_v2 check_cells`` and ``nova-cells-status upgrade check`` through
their console scripts, with a healthy, a dead and a hung cell."""

import json
import os
import subprocess

import sqlalchemy as sa

from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cli
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.fixtures import sick_servers

SECRET = 'Dead-Cell-S3cret'  # noqa: S105 - the secret the tests hunt for
DEAD_URL = 'mysql+pymysql://nova:%s@127.0.0.1:%%d/nova' % SECRET
HUNG_URL = 'postgresql+psycopg2://nova:%s@127.0.0.1:%%d/nova' % SECRET


class HealthTestCase(cli.CellV2TestCase):

    MAIN_SCHEMA = False

    def setUp(self):
        super().setUp()
        cell0_url, cell1_url = (
            self.useFixture(database_fixture.EmptyDatabase(
                self.BACKEND, name=name)).url for name in ('c0', 'c1'))
        self.manage('map_cell0', '--database_connection', cell0_url)
        self.healthy_url = cell1_url
        self.healthy = self.create('healthy', cell1_url)
        self.manage('sync', '--all-cells', category='db')
        self.status_script = os.path.join(
            os.path.dirname(self.script), 'nova-cells-status')

    def create(self, name, url):
        result = self.manage('create_cell', '--name', name,
                             '--transport-url', 'fake:///%s' % name,
                             '--verbose',
                             '--database_connection', url)
        return result.stdout.strip().splitlines()[-1]

    def add_sick_cells(self):
        refused = self.useFixture(sick_servers.RefusedPort())
        self.listener = self.useFixture(sick_servers.SilentListener())
        self.dead = self.create('dead', DEAD_URL % refused.port)
        self.hung = self.create('hung', HUNG_URL % self.listener.port)

    def status(self, expect):
        result = subprocess.run(
            [self.status_script, '--config-file', self.config_file,
             'upgrade', 'check'], capture_output=True, text=True,
            env=self.environment, timeout=300)
        self.assertEqual(expect, result.returncode,
                         'stdout:\n%s\nstderr:\n%s' % (result.stdout,
                                                        result.stderr))
        return result


class TestCheckCells(HealthTestCase):

    def test_healthy_cells_exit_0(self):
        records = json.loads(self.manage('check_cells', '--format',
                                         'json').stdout)
        self.assertEqual(['cell0', 'healthy'],
                         sorted(record['name'] for record in records))
        for record in records:
            self.assertTrue(record['healthy'], record)
            self.assertEqual('ok', record['database'])
            self.assertEqual('at head', record['schema'])
        by_name = {record['name']: record for record in records}
        self.assertEqual('none expected', by_name['cell0']['message_queue'])

    def test_a_dead_and_a_hung_cell_exit_1_without_waiting(self):
        self.add_sick_cells()
        # No connect timeout: only check_cells' own timeout ends the wait
        # for the hung cell.
        self.write_config('[cell_database]\nconnect_timeout = 0\n')
        result = self.manage('check_cells', '--timeout', '3', expect=1)
        self.assertTrue(self.listener.still_holding())
        self.assertGreaterEqual(self.listener.accepted, 1)
        lines = {line.split('|')[1].strip(): line
                 for line in result.stdout.splitlines()
                 if line.startswith('| ') and '| Name' not in line}
        self.assertTrue(lines['healthy'].rstrip(' |').endswith('| ok'),
                        lines['healthy'])
        self.assertIn('unreachable', lines['dead'])
        self.assertIn('no answer within 3.0 s', lines['hung'])
        self.assertNotIn(SECRET, result.stdout + result.stderr)
        # One cell alone: the healthy one is healthy whatever the others.
        self.manage('check_cells', '--cell_uuid', self.healthy,
                    '--timeout', '3')
        self.manage('check_cells', '--cell_uuid', 'nope', expect=127)


class TestCheckCellsConnections(HealthTestCase):
    """The connections open to each cell's database (every process's, on
    its server) and this process's connection budget."""

    HELD = 3

    def hold_connections(self):
        engine = sa.create_engine(self.healthy_url,
                                  poolclass=sa.pool.QueuePool,
                                  pool_size=self.HELD)
        self.addCleanup(engine.dispose)
        for _ in range(self.HELD):
            connection = engine.connect()
            self.addCleanup(connection.close)

    def expected_count(self, count):
        if self.BACKEND == backends.SQLITE:
            # A file has no server to count connections.
            self.assertIsNone(count)
        else:
            # Other processes' connections may still be ending.
            self.assertGreaterEqual(count, self.HELD)

    def test_connections_per_cell_and_the_budget_are_shown(self):
        self.hold_connections()
        self.write_config('[cell_database]\nmax_total_connections = 7\n')
        records = json.loads(self.manage('check_cells', '--format',
                                         'json').stdout)
        by_name = {record['name']: record for record in records}
        healthy = by_name['healthy']
        self.expected_count(healthy['connections'])
        self.assertNotIn('connections_this_process', healthy)
        self.assertTrue(healthy['healthy'], healthy)

        result = self.manage('check_cells')
        lines = result.stdout.splitlines()
        headers = [cell.strip() for cell in lines[1].strip('|').split('|')]
        rows = {line.split('|')[1].strip(): [
            cell.strip() for cell in line.strip().strip('|').split('|')]
            for line in lines[3:] if line.startswith('| ')}
        shown = rows['healthy'][headers.index('Connections')]
        self.expected_count(None if shown == '-' else int(shown))
        self.assertIn('each process may hold at most 7 ([cell_database] '
                      'max_total_connections)', lines[-1])
        if self.BACKEND == backends.SQLITE:
            self.assertIn('not counted on their servers', lines[-1])
        else:
            self.assertRegex(lines[-1], r'cell databases: \d+ on their')


class TestCheckCellsConnectionsMySQL(base.MySQLMixin,
                                     TestCheckCellsConnections):
    pass


class TestCheckCellsConnectionsPostgreSQL(base.PostgreSQLMixin,
                                          TestCheckCellsConnections):
    pass


class TestUpgradeCheck(HealthTestCase):

    def test_ready_deployment_exits_0(self):
        result = self.status(0)
        self.assertIn('Cell database schemas', result.stdout)

    def test_dead_and_hung_cells_fail_it_naming_them(self):
        self.add_sick_cells()
        self.write_config('[cell_database]\nconnect_timeout = 1\n')
        result = self.status(2)
        self.assertTrue(self.listener.still_holding())
        for name in ('dead', 'hung'):
            self.assertIn(name, result.stdout)
        self.assertNotIn(SECRET, result.stdout + result.stderr)


class TestCommandsWalkingCellsGoOn(cli.CellV2TestCase):
    """A hung cell listed first: every command that walks cells gives it
    its time, names it and goes on to the healthy cell after it."""

    MAIN_SCHEMA = False

    def setUp(self):
        super().setUp()
        self.listener = self.useFixture(sick_servers.SilentListener())
        self.write_config('[cell_database]\nconnect_timeout = 1\n')
        self.hung = self.manage(
            'create_cell', '--name', 'hung', '--transport-url', 'fake:///hung',
            '--verbose', '--database_connection',
            HUNG_URL % self.listener.port).stdout.strip().splitlines()[-1]
        self.healthy_url = self.useFixture(database_fixture.EmptyDatabase(
            self.BACKEND, name='healthy')).url
        self.healthy = self.manage(
            'create_cell', '--name', 'healthy', '--transport-url',
            'fake:///healthy', '--verbose', '--database_connection',
            self.healthy_url).stdout.strip().splitlines()[-1]

    def test_db_sync_and_discover_hosts_reach_the_healthy_cell(self):
        sync = self.manage('sync', '--all-cells', category='db', expect=1)
        self.assertIn('hung', sync.stderr + sync.stdout)
        self.assertNotIn(SECRET, sync.stderr + sync.stdout)
        self.manage('check_cells', '--cell_uuid', self.healthy)
        engine = sa.create_engine(self.healthy_url)
        with engine.begin() as connection:
            connection.execute(models.ComputeNode.__table__.insert(), [
                {'host': host, 'hypervisor_hostname': host, 'deleted': 0}
                for host in ('h1', 'h2', 'h3')])
        engine.dispose()
        discover = self.manage('discover_hosts', expect=3)
        self.assertIn('hung', discover.stderr)
        self.assertNotIn(SECRET, discover.stderr + discover.stdout)
        hosts = self.manage('list_hosts', '--cell_uuid', self.healthy).stdout
        for host in ('h1', 'h2', 'h3'):
            self.assertIn(' %s ' % host, hosts)
        self.assertTrue(self.listener.still_holding())
