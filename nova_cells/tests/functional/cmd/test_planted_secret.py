"""One distinctive password in every URL, every command run, and not one
occurrence of it outside ``list_cells --verbose``.

A MySQL user is created whose password is :data:`SECRET`; the API, local
main, cell0 and cell databases are reached as that user, and every
transport URL carries the same password. Each command then runs as an
operator runs it, succeeding and failing (an unreachable cell, a database
already in use, a bad URL), three ways: plain, ``--debug`` and
``--log-file``. Standard output, standard error and the log file are all
searched. The three ways run in parallel, each on its own deployment.
"""

import concurrent.futures
import os
import subprocess
import uuid

import fixtures
import sqlalchemy as sa
import testtools

from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures import cli
from nova_cells.tests.fixtures import database as database_fixture

SECRET = 'Pl4nt3dS3cretQz'
TRANSPORT = 'rabbit://nova:%s@127.0.0.1:5672/nc_planted' % SECRET
#: A database nobody listens for: every command touching it fails.
UNREACHABLE = 'mysql+pymysql://nova:%s@127.0.0.1:1/nowhere' % SECRET
MODES = ('plain', 'debug', 'log_file')


class _PlantedUser(fixtures.Fixture):
    """A MySQL user whose password is :data:`SECRET`."""

    def _setUp(self):
        backend = backends.require_backend(backends.MYSQL)
        self.name = 'nc_planted_%s' % uuid.uuid4().hex[:8]
        with backend.engine.begin() as connection:
            for host in ('%', 'localhost'):
                connection.execute(sa.text(
                    "CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (
                        self.name, host, SECRET)))
                connection.execute(sa.text(
                    "GRANT ALL PRIVILEGES ON *.* TO '%s'@'%s'" % (
                        self.name, host)))
        self.addCleanup(self._drop, backend)

    def _drop(self, backend) -> None:
        with backend.engine.begin() as connection:
            for host in ('%', 'localhost'):
                connection.execute(sa.text("DROP USER IF EXISTS '%s'@'%s'" %
                                           (self.name, host)))

    def url(self, provisioned_url: str) -> str:
        parsed = sa.engine.make_url(provisioned_url).set(
            username=self.name, password=SECRET)
        return parsed.render_as_string(hide_password=False)


class TestPlantedSecret(base.SkippingFixturesMixin, testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.script = cli.find_script()
        self.user = self.useFixture(_PlantedUser())

    def database(self, schema: str | None = None) -> str:
        fixture = (database_fixture.SchemaDatabase(schema, backends.MYSQL)
                   if schema else database_fixture.EmptyDatabase(
                       backends.MYSQL))
        return self.user.url(self.useFixture(fixture).url)

    def deployment(self, mode: str) -> dict:
        directory = self.useFixture(fixtures.TempDir()).path
        urls = {'api': self.database(), 'main': self.database(),
                'cell0': self.database(), 'cell1': self.database()}
        config_file = os.path.join(directory, 'nova_cells.conf')
        with open(config_file, 'w') as handle:
            handle.write(
                '[DEFAULT]\nstate_path = %s\ntransport_url = %s\n'
                '[api_database]\nconnection = %s\n'
                '[database]\nconnection = %s\nmax_retries = 0\n' % (
                    directory, TRANSPORT, urls['api'], urls['main']))
        broken_file = os.path.join(directory, 'unreachable.conf')
        with open(broken_file, 'w') as handle:
            handle.write('[DEFAULT]\nstate_path = %s\n[database]\n'
                         'connection = %s\nmax_retries = 0\n' % (
                             directory, UNREACHABLE))
        return dict(urls, mode=mode, directory=directory,
                    config_file=config_file, broken_file=broken_file,
                    log_file=os.path.join(directory, 'manage.log'))

    def run_command(self, deployment: dict, arguments: list[str],
                    config_file: str | None = None,
                    script: str | None = None):
        mode = deployment['mode']
        options = ['--config-file', config_file or deployment['config_file']]
        if mode == 'debug':
            options.append('--debug')
        elif mode == 'log_file':
            options += ['--log-file', deployment['log_file']]
        result = subprocess.run(
            [script or self.script, *options, *arguments],
            capture_output=True,
            text=True, timeout=300,
            env=dict(os.environ, HOME=deployment['directory']))
        seen = result.stdout + result.stderr
        if mode == 'log_file' and os.path.exists(deployment['log_file']):
            with open(deployment['log_file']) as handle:
                seen += handle.read()
            os.unlink(deployment['log_file'])
        return result, seen

    def scenario(self, deployment: dict) -> list[str]:
        """Every command, in an order that works; returns one line per
        run that showed the secret."""
        leaks = []
        runs = []

        def run(*arguments, expect=0, config_file=None, may_show=False,
                script=None):
            result, seen = self.run_command(deployment, list(arguments),
                                            config_file, script)
            runs.append(arguments)
            if expect is not None:
                self.assertEqual(expect, result.returncode, '%s %s\n%s\n%s'
                                 % (deployment['mode'], ' '.join(arguments),
                                    result.stdout, result.stderr))
            if may_show:
                self.assertIn(SECRET, result.stdout)
            elif SECRET in seen:
                leaks.append('%s: %s shows it %d time(s)' % (
                    deployment['mode'], ' '.join(arguments),
                    seen.count(SECRET)))
            return result

        run('api_db', 'sync')
        run('api_db', 'version')
        run('db', 'sync')
        run('db', 'version')
        run('db', 'version', expect=1, config_file=deployment['broken_file'])
        run('cell_v2', 'map_cell0', '--database_connection',
            deployment['cell0'])
        cell1 = run('cell_v2', 'create_cell', '--name', 'cell1',
                    '--transport-url', TRANSPORT, '--database_connection',
                    deployment['cell1'],
                    '--verbose').stdout.strip().splitlines()[-1]
        run('cell_v2', 'create_cell', '--name', 'again', '--transport-url',
            TRANSPORT, '--database_connection', deployment['cell1'],
            expect=2)
        run('cell_v2', 'create_cell', '--name', 'bad', '--transport-url',
            'rabbit://nova:%s@127.0.0.1:notaport/' % SECRET,
            '--database_connection', UNREACHABLE, expect=1)
        down = run('cell_v2', 'create_cell', '--name', 'down',
                   '--transport-url', TRANSPORT + '_down',
                   '--database_connection',
                   UNREACHABLE, '--verbose').stdout.strip().splitlines()[-1]
        run('db', 'sync', '--all-cells', expect=1)
        run('cell_v2', 'update_cell', '--cell_uuid', cell1,
            '--transport-url', TRANSPORT.replace('/nc_planted', '/other'))
        run('cell_v2', 'update_cell', '--cell_uuid', down,
            '--database_connection', deployment['cell1'], expect=3)
        run('cell_v2', 'list_cells')
        run('cell_v2', 'list_cells', '--format', 'json')
        run('cell_v2', 'list_cells', '--verbose', may_show=True)
        run('cell_v2', 'discover_hosts', '--verbose', expect=3)
        run('cell_v2', 'discover_hosts', '--cell_uuid', cell1)
        run('cell_v2', 'list_hosts')
        run('cell_v2', 'map_instances', '--cell_uuid', cell1)
        run('cell_v2', 'map_instances', '--cell_uuid', down, expect=1)
        run('cell_v2', 'verify_instance', '--uuid', str(uuid.uuid4()),
            expect=1)
        run('cell_v2', 'delete_host', '--cell_uuid', cell1, '--host',
            'nohost', expect=2)
        run('cell_v2', 'map_cell_and_hosts', '--transport-url', TRANSPORT)
        run('cell_v2', 'simple_cell_setup', '--transport-url', TRANSPORT,
            expect=1)
        run('cell_v2', 'check_cells', '--timeout', '5', expect=1)
        # The upgrade check (oslo.upgradecheck's codes) sees the down cell.
        run('upgrade', 'check', expect=None,
            script=os.path.join(os.path.dirname(self.script),
                                'nova-cells-status'))
        run('cell_v2', 'delete_cell', '--cell_uuid', down)
        run('cell_v2', 'delete_cell', '--cell_uuid', cell1)
        self.assertGreater(len(runs), 25)
        return leaks

    def test_no_command_shows_the_password(self):
        deployments = [self.deployment(mode) for mode in MODES]
        with concurrent.futures.ThreadPoolExecutor(len(MODES)) as pool:
            leaks = [leak for found in pool.map(self.scenario, deployments)
                     for leak in found]
        self.assertEqual([], leaks)
