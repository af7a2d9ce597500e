"""Shared set-up for ``nova-cells-manage cell_v2`` subprocess tests: a
config file, an API and a local main database, and cell databases, all
SQLite files in a temporary directory (or server databases)."""

import os
import subprocess

import fixtures
import testtools

from nova_cells.tests import base
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import database as database_fixture
from nova_cells.tests.functional.cmd import test_manage_db

TRANSPORT_URL = 'rabbit://guest:tr%40nsp0rt@localhost:5672/'


class CellV2TestCase(base.SkippingFixturesMixin, testtools.TestCase):

    BACKEND = backends.SQLITE
    #: False: the local main database starts empty (for ``db sync``).
    MAIN_SCHEMA = True
    #: False: the API database starts empty (for ``api_db sync``).
    API_SCHEMA = True

    def setUp(self):
        super().setUp()
        self.script = test_manage_db._find_script()
        self.directory = self.useFixture(fixtures.TempDir()).path
        if self.API_SCHEMA:
            api = database_fixture.SchemaDatabase(database_fixture.API,
                                                  self.BACKEND)
        else:
            api = database_fixture.EmptyDatabase(self.BACKEND, name='api')
        self.api_url = self.useFixture(api).url
        if self.MAIN_SCHEMA:
            main = database_fixture.SchemaDatabase(
                database_fixture.MAIN, self.BACKEND, name='main')
        else:
            main = database_fixture.EmptyDatabase(self.BACKEND, name='main')
        self.main_url = self.useFixture(main).url
        self.config_file = self.write_config()
        self.environment = dict(os.environ, HOME=self.directory)
        self.environment.pop('NOVA_CELLS_STATE_PATH', None)

    def cell_urls(self, count: int) -> list[str]:
        return self.useFixture(database_fixture.CellDatabases(
            count, self.BACKEND)).urls

    def write_config(self, extra: str = '') -> str:
        path = os.path.join(self.directory, 'nova_cells.conf')
        with open(path, 'w') as config:
            config.write(
                '[DEFAULT]\nstate_path = %s\ntransport_url = %s\n'
                '[api_database]\nconnection = %s\n'
                '[database]\nconnection = %s\nmax_retries = 0\n'
                'retry_interval = 0\n%s' % (
                    os.path.join(self.directory, 'state'),
                    TRANSPORT_URL.replace('%', '%%'),
                    self.api_url.replace('%', '%%'),
                    self.main_url.replace('%', '%%'), extra))
        return path

    def start_manage(self, *arguments) -> subprocess.Popen:
        return subprocess.Popen(
            [self.script, '--config-file', self.config_file, 'cell_v2',
             *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.environment)

    def manage(self, *arguments, expect: int = 0, category: str = 'cell_v2',
               debug: bool = False) -> subprocess.CompletedProcess:
        options = ['--debug'] if debug else []
        result = subprocess.run(
            [self.script, '--config-file', self.config_file, *options,
             category, *arguments], capture_output=True, text=True,
            env=self.environment, timeout=300)
        self.assertEqual(
            expect, result.returncode, '%s\nstdout:\n%s\nstderr:\n%s' % (
                ' '.join(arguments), result.stdout, result.stderr))
        return result

    def manage_at_once(self, *calls: tuple[tuple[str, ...], int]) -> list:
        """Run commands that change nothing concurrently (each is a
        separate process, so this only saves start-up time) and check each
        exit code; returns the completed processes in order."""
        started = [(arguments, expect, self.start_manage(*arguments))
                   for arguments, expect in calls]
        results = []
        for arguments, expect, process in started:
            stdout, stderr = process.communicate(timeout=300)
            self.assertEqual(expect, process.returncode,
                             '%s\nstdout:\n%s\nstderr:\n%s' % (
                                 ' '.join(arguments), stdout, stderr))
            results.append(subprocess.CompletedProcess(
                arguments, process.returncode, stdout, stderr))
        return results

    def assertOneErrorLine(self, result, *texts: str) -> None:
        lines = result.stderr.splitlines()
        self.assertEqual(1, len(lines), result.stderr)
        self.assertTrue(lines[0].startswith('ERROR: '), lines[0])
        for text in texts:
            self.assertIn(text, lines[0])
