"""The main job (``python -m nova_cells.demo``) run as a newcomer runs it.

On SQLite it runs twice in a subprocess with no config file, in a fresh
state directory, and the report and the databases it leaves are checked
against each other. On MySQL and PostgreSQL it runs twice from the config
files shipped in ``etc/demo/`` (database names made unique per test), so a
broken example config fails here; on MySQL it then runs with
``etc/demo/rabbit.conf`` added, as the README orders its demos, and the
cells must have moved to RabbitMQ.
"""

import configparser
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import fixtures
import sqlalchemy as sa
import testtools
from oslo_config import cfg

import nova_cells
from nova_cells import urls
from nova_cells.demo import environment
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import rpc as rpc_fixture

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(
    nova_cells.__file__)))
DEMO_CONFIGS = os.path.join(REPOSITORY, 'etc', 'demo')
#: What the demo creates on a first run with its defaults.
INSTANCES = 300
FAILED_BUILDS = 3
HOSTS = 5
CREATED = re.compile(
    r'This run created (\d+) cell\(s\), (\d+) compute host\(s\) and (\d+) '
    r'instance\(s\), and mapped (\d+) host\(s\)')
DEFAULT_TRANSPORT_PASSWORD = 'demo-secret'


def run_demo(directory: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, HOME=directory,
                       NOVA_CELLS_STATE_PATH=os.path.join(directory, 'state'))
    return subprocess.run(
        [sys.executable, '-m', 'nova_cells.demo', *arguments],
        env=environment, capture_output=True, text=True, timeout=300)


def created(output: str) -> tuple[int, ...]:
    """(cells, hosts, instances, hosts mapped) this run created."""
    match = CREATED.search(output)
    assert match, 'no summary line in:\n' + output
    return tuple(int(number) for number in match.groups())


def section(output: str, title: str) -> str:
    """The text under the numbered heading that starts with ``title``."""
    match = re.search(r'^\d+\. %s.*?\n-+\n(.*?)(?=^\d+\. |\Z)' %
                      re.escape(title), output, re.M | re.S)
    assert match, 'no section %r in:\n%s' % (title, output)
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first table in ``text``."""
    rows = [[cell.strip() for cell in line.strip().strip('|').split('|')]
            for line in text.splitlines() if line.startswith('| ')]
    return rows[1:]


def count_rows(path: str, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(
            'SELECT COUNT(*) FROM %s' % table).fetchone()[0]  # noqa: S608
    finally:
        connection.close()


class TestDemoOnSQLite(testtools.TestCase):
    """Two runs in one fresh state directory, with no config file."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = tempfile.mkdtemp(prefix='nova-cells-demo-')
        cls.first = run_demo(cls.directory)
        cls.first_rows = cls.rows_per_table(cls.first.stdout)
        cls.second = run_demo(cls.directory)
        cls.second_rows = cls.rows_per_table(cls.second.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.directory, ignore_errors=True)
        super().tearDownClass()

    @staticmethod
    def cell_files(output: str) -> dict[str, str]:
        """{cell name: its SQLite file}, from the list_cells table."""
        return {row[0]: row[3][len('sqlite:///'):] for row in table_rows(
            section(output, 'List cells'))}

    @classmethod
    def rows_per_table(cls, output: str) -> dict[str, int]:
        if 'List cells' not in output:
            return {}
        state = os.path.join(cls.directory, 'state')
        api = os.path.join(state, 'nova_cells_api.sqlite')
        counts = {table: count_rows(api, table) for table in (
            'cell_mappings', 'host_mappings', 'instance_mappings')}
        for table in ('instances', 'compute_nodes', 'services'):
            counts[table] = sum(count_rows(path, table) for path in
                                cls.cell_files(output).values())
        return counts

    def test_both_runs_succeed_quietly(self):
        for run in (self.first, self.second):
            self.assertEqual(0, run.returncode, run.stdout + run.stderr)
            self.assertEqual('', run.stderr)

    def test_list_cells_shows_three_cells_with_passwords_masked(self):
        for run in (self.first, self.second):
            rows = table_rows(section(run.stdout, 'List cells'))
            self.assertEqual(['cell0', 'cell1', 'cell2'],
                             [row[0] for row in rows])
            self.assertEqual(
                ['none:///',
                 'fake://nova:***@localhost/nova_cells_demo_cell1',
                 'fake://nova:***@localhost/nova_cells_demo_cell2'],
                [row[2] for row in rows])
            self.assertNotIn(DEFAULT_TRANSPORT_PASSWORD, run.stdout)

    def test_every_created_instance_is_mapped(self):
        cells, hosts, instances, mapped_hosts = created(self.first.stdout)
        self.assertEqual((3, HOSTS, INSTANCES + FAILED_BUILDS, HOSTS),
                         (cells, hosts, instances, mapped_hosts))
        self.assertEqual(instances, self.first_rows['instances'])
        self.assertEqual(instances, self.first_rows['instance_mappings'])
        self.assertEqual(HOSTS, self.first_rows['host_mappings'])
        total = table_rows(section(self.first.stdout,
                                   'Instances per cell'))[-1]
        self.assertEqual(['total', '', str(instances), str(instances)],
                         total)

    def test_second_run_creates_nothing(self):
        self.assertEqual((0, 0, 0, 0), created(self.second.stdout))
        self.assertEqual(self.first_rows, self.second_rows)
        self.assertIn('running it again is safe', self.second.stdout)

    def test_merged_page_is_the_first_page_of_all_cells_sorted(self):
        files = self.cell_files(self.first.stdout)
        everything = {}
        for cell, path in files.items():
            connection = sqlite3.connect(path)
            try:
                for name, uuid in connection.execute(
                        'SELECT display_name, uuid FROM instances'):
                    everything[name] = (uuid, cell)
            finally:
                connection.close()
        for run in (self.first, self.second):
            rows = table_rows(section(run.stdout, 'First page'))
            expected = sorted(everything)[:10]
            self.assertEqual(expected, [row[1] for row in rows])
            self.assertEqual([everything[name] for name in expected],
                             [(row[2], row[4]) for row in rows])
            self.assertEqual({'cell0', 'cell1', 'cell2'},
                             {row[4] for row in rows})

    def test_one_instance_is_verified_and_shown_from_its_cell(self):
        verify = section(self.first.stdout, 'Verify one instance')
        self.assertIn('exit code 0 (mapped)', verify)
        uuid = re.search(r'Instance (\S+) is in cell \S+\(cell2\)',
                         verify).group(1)
        shown = dict(table_rows(section(self.first.stdout,
                                        'Show that instance')))
        self.assertEqual(uuid, shown['uuid'])
        self.assertEqual('vm-001', shown['display_name'])
        self.assertTrue(shown['host'].startswith('cell2-'))

    def test_each_cell_answers_its_own_rpc_and_cell0_refuses(self):
        for run in (self.first, self.second):
            rows = table_rows(section(run.stdout, 'RPC'))
            self.assertEqual(
                [['cell0', 'refused, nothing sent (CellHasNoMessageQueue)'],
                 ['cell1', "3 of 3 answered by cell1's server, in a "
                           'context targeted at cell1'],
                 ['cell2', "3 of 3 answered by cell2's server, in a "
                           'context targeted at cell2']],
                [[row[0], row[2]] for row in rows])


class ServerDemoTestCase(testtools.TestCase):
    """The demo from a shipped server config (``CONFIG``), its databases
    renamed so that tests never meet each other or an operator's demo,
    and dropped afterwards."""

    BACKEND = backends.MYSQL
    CONFIG = 'mysql.conf'

    def setUp(self):
        super().setUp()
        backend = backends.require_backend(self.BACKEND)
        self.directory = tempfile.mkdtemp(prefix='nova-cells-demo-')
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.name = backends.random_database_name('ncdemo')
        for suffix in ('_api', '', '_cell0', '_cell1', '_cell2'):
            self.addCleanup(backend.drop_named_database, self.name + suffix,
                            True)
        self.config_file = self.write_config()

    def write_config(self) -> str:
        config = configparser.ConfigParser(interpolation=None)
        with open(os.path.join(DEMO_CONFIGS, self.CONFIG)) as shipped:
            config.read_file(shipped)
        for group, database in (('api_database', self.name + '_api'),
                                ('database', self.name)):
            url = sa.engine.make_url(config[group]['connection'])
            config[group]['connection'] = url.set(
                database=database).render_as_string(hide_password=False)
        path = os.path.join(self.directory, 'demo.conf')
        with open(path, 'w') as written:
            config.write(written)
        return path

    def run_demo(self, *arguments: str) -> subprocess.CompletedProcess:
        # RPC over fake:// does not depend on the database backend, and
        # the SQLite runs check it; stopping its servers costs a second.
        return run_demo(self.directory, '--config-file', self.config_file,
                        '--norpc', *arguments)

    def api_url(self) -> str:
        config = configparser.ConfigParser(interpolation=None)
        config.read(self.config_file)
        return config['api_database']['connection']


class TestDemoOnMySQL(ServerDemoTestCase):
    """Two runs from ``etc/demo/mysql.conf``."""

    def test_runs_twice_creating_its_databases_once(self):
        first = self.run_demo()
        self.assertEqual(0, first.returncode, first.stdout + first.stderr)
        self.assertEqual((3, HOSTS, INSTANCES + FAILED_BUILDS, HOSTS),
                         created(first.stdout))
        self.assertEqual(
            sorted(self.name + suffix for suffix in
                   ('_api', '', '_cell0', '_cell1', '_cell2')),
            sorted(re.findall(r'created database (\S+)', first.stdout)))
        second = self.run_demo()
        self.assertEqual(0, second.returncode, second.stdout + second.stderr)
        self.assertEqual((0, 0, 0, 0), created(second.stdout))
        self.assertNotIn('created database', second.stdout)
        for run in (first, second):
            total = table_rows(section(run.stdout, 'Instances per cell'))[-1]
            self.assertEqual(['total', '', '303', '303'], total)
            self.assertNotIn(':openstack_citest@', run.stdout + run.stderr)


class TestDemoOnPostgreSQL(TestDemoOnMySQL):
    BACKEND = backends.POSTGRESQL
    CONFIG = 'postgresql.conf'


class TestDemoOnMySQLThenRabbitMQ(ServerDemoTestCase):
    """The README's real-server demos in order: ``mysql.conf``, then
    ``mysql.conf`` with ``rabbit.conf`` on the same databases. The second
    run repoints the cells the first made on ``fake://`` at RabbitMQ and
    says so; its header, its listing and the stored cell mappings agree.

    The cells' virtual hosts are the demo's own ``nova_cells_demo_<cell>``
    (created with ``rabbitmqctl`` when it works here, as for an operator,
    and left in place: they hold nothing once the demo's auto-delete
    queues are gone); without ``rabbitmqctl`` the demo shares
    ``rabbit.conf``'s virtual host and says so, which passes here too.
    """

    RABBIT_CONFIG = os.path.join(DEMO_CONFIGS, 'rabbit.conf')

    def stored_transports(self) -> dict[str, str]:
        """{cell name: transport URL} as the API database holds them."""
        engine = sa.create_engine(self.api_url(), poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return dict(connection.execute(sa.text(
                    'SELECT name, transport_url FROM cell_mappings')).all())
        finally:
            engine.dispose()

    def test_rabbit_run_repoints_the_fake_cells(self):
        rpc_fixture.require_rabbit(vhosts=('',))
        first = self.run_demo('--instances', '10')
        self.assertEqual(0, first.returncode, first.stdout + first.stderr)
        self.assertIn('[DEFAULT] transport_url    fake://', first.stdout)
        fake = self.stored_transports()
        self.assertEqual({'cell0', 'cell1', 'cell2'}, set(fake))
        self.assertTrue(all(fake[name].startswith('fake://')
                            for name in ('cell1', 'cell2')), fake)

        second = self.run_demo('--instances', '10', '--config-file',
                               self.RABBIT_CONFIG)
        self.assertEqual(0, second.returncode, second.stdout + second.stderr)
        self.assertIn('[DEFAULT] transport_url    rabbit://guest:***@'
                      'localhost:5672/\n', second.stdout)
        stored = self.stored_transports()
        self.assertEqual('none:///', stored['cell0'])
        listing = section(second.stdout, 'List cells')
        for name in ('cell1', 'cell2'):
            url = stored[name]
            self.assertTrue(url.startswith(
                'rabbit://guest:guest@localhost:5672/'), url)
            self.assertTrue(environment.virtual_host_usable(
                cfg.ConfigOpts(), url), url)
            masked = urls.mask_url(url)
            self.assertIn('note: repointed from %s (a run with another '
                          'configuration) to %s' % (urls.mask_url(
                              fake[name]), masked), second.stdout)
            self.assertIn('| %s | %s |' % (name, masked),
                          re.sub(r'\| [0-9a-f-]{36} ', '', listing))
        self.assertNotIn('fake://', listing)
        self.assertIn('It repointed 2 cell(s) at this configuration\'s '
                      'message queue.', second.stdout)
        self.assertNotIn('Everything was already there', second.stdout)
        self.assertEqual((0, 0, 0, 0), created(second.stdout))


class TestDemoSwitchingTransports(testtools.TestCase):
    """A second configuration on the same state directory repoints the
    demo's cells at its transport and says so; the header never names a
    transport the cells do not use."""

    def test_second_configuration_repoints_the_cells(self):
        directory = self.useFixture(fixtures.TempDir()).path
        config_file = os.path.join(directory, 'other.conf')
        with open(config_file, 'w') as handle:
            handle.write('[DEFAULT]\ntransport_url = '
                         'fake://other:0ther-secret@localhost/\n')
        first = run_demo(directory, '--instances', '10', '--norpc')
        self.assertEqual(0, first.returncode, first.stderr)
        second = run_demo(directory, '--instances', '10', '--norpc',
                          '--config-file', config_file)
        self.assertEqual(0, second.returncode, second.stderr)
        self.assertIn('fake://other:***@localhost/', second.stdout)
        self.assertEqual(2, second.stdout.count('note: repointed from '
                                                'fake://nova:***@'))
        self.assertNotIn('Everything was already there', second.stdout)
        listing = section(second.stdout, 'List cells')
        self.assertNotIn('fake://nova:', listing)
        self.assertNotIn('0ther-secret', second.stdout + second.stderr)
        third = run_demo(directory, '--instances', '10', '--norpc',
                         '--config-file', config_file)
        self.assertIn('Everything was already there', third.stdout)
        self.assertNotIn('repointed', third.stdout)
