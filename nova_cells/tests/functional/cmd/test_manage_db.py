"""``nova-cells-manage api_db|db``, run as an operator runs it: the
installed console script, in a subprocess, with a config file."""

import os
import shutil
import subprocess
import sys

import fixtures
import testtools

from nova_cells.db import migration

SCRIPT = 'nova-cells-manage'


def _find_script() -> str:
    beside_python = os.path.join(os.path.dirname(sys.executable), SCRIPT)
    if os.path.exists(beside_python):
        return beside_python
    found = shutil.which(SCRIPT)
    if found is None:
        raise AssertionError('%s is not installed; run pip install -e .'
                             % SCRIPT)
    return found


class ManageTestCase(testtools.TestCase):
    """The script, a state directory and a config file naming it."""

    def setUp(self):
        super().setUp()
        self.script = _find_script()
        self.directory = self.useFixture(fixtures.TempDir()).path
        self.state = os.path.join(self.directory, 'state')
        self.config_file = self.write_config('[DEFAULT]\nstate_path = %s\n'
                                             % self.state)
        # No stray ~/.nova_cells or $NOVA_CELLS_STATE_PATH leaks in.
        self.environment = dict(os.environ, HOME=self.directory)
        self.environment.pop('NOVA_CELLS_STATE_PATH', None)

    def write_config(self, text: str, name: str = 'nova_cells.conf') -> str:
        path = os.path.join(self.directory, name)
        with open(path, 'w') as config:
            config.write(text)
        return path

    def run_manage(self, *arguments, config_file=None, expect=0):
        config_file = config_file or self.config_file
        options = [argument for argument in arguments
                   if argument == '--debug']
        rest = [argument for argument in arguments
                if argument != '--debug']
        result = subprocess.run(
            [self.script, '--config-file', config_file, *options, *rest],
            capture_output=True, text=True, env=self.environment,
            timeout=120)
        self.assertEqual(
            expect, result.returncode,
            'stdout:\n%s\nstderr:\n%s' % (result.stdout, result.stderr))
        return result

    def assertOneErrorLine(self, result, *expected_texts):
        lines = result.stderr.splitlines()
        self.assertEqual(1, len(lines), result.stderr)
        self.assertTrue(lines[0].startswith('ERROR: '), lines[0])
        for text in expected_texts:
            self.assertIn(text, lines[0])
        self.assertNotIn('Traceback', result.stderr)



class TestManageDatabases(ManageTestCase):

    def printed_version(self, result) -> str:
        return result.stdout.strip().splitlines()[-1]

    def test_sync_and_version_of_both_databases(self):
        for category, database, filename in (
                ('api_db', migration.API, 'nova_cells_api.sqlite'),
                ('db', migration.MAIN, 'nova_cells.sqlite')):
            self.assertEqual('None', self.printed_version(
                self.run_manage(category, 'version')))
            self.assertFalse(os.path.exists(os.path.join(self.state,
                                                         filename)))
            self.run_manage(category, 'sync')
            self.assertTrue(os.path.exists(os.path.join(self.state,
                                                        filename)))
            self.assertEqual(migration.head(database), self.printed_version(
                self.run_manage(category, 'version')))

    def test_sync_to_a_revision_then_onwards_never_back(self):
        first, *_ = migration.revisions(migration.MAIN)
        self.run_manage('db', 'sync', first)
        self.assertEqual(first, self.printed_version(
            self.run_manage('db', 'version')))
        self.run_manage('db', 'sync')
        result = self.run_manage('db', 'sync', first, expect=1)
        self.assertOneErrorLine(result, 'downgrades are not supported',
                                migration.head(migration.MAIN))

    def test_unknown_revision_is_one_line_and_touches_nothing(self):
        result = self.run_manage('api_db', 'sync', 'bogus', expect=1)
        self.assertOneErrorLine(result, "'bogus'",
                                migration.head(migration.API))
        self.assertFalse(os.path.exists(self.state))

    def test_debug_adds_the_traceback(self):
        result = self.run_manage('--debug', 'api_db', 'sync', 'bogus',
                                 expect=1)
        self.assertIn('Traceback (most recent call last)', result.stderr)
        self.assertIn('InvalidRevision', result.stderr)
        self.assertTrue(result.stderr.strip().splitlines()[-1].startswith(
            'ERROR: '))

    def test_unreachable_database_error_masks_the_password(self):
        config_file = self.write_config(
            '[DEFAULT]\nstate_path = %s\n[api_database]\n' % self.state +
            'connection = mysql+pymysql://nova:Sup3r%%25Secret@127.0.0.1:1/'
            'nova_api\n'
            'max_retries = 1\nretry_interval = 0\n', name='unreachable.conf')
        for action in ('sync', 'version'):
            result = self.run_manage('api_db', action,
                                     config_file=config_file, expect=1)
            self.assertOneErrorLine(
                result, 'mysql+pymysql://nova:***@127.0.0.1:1/nova_api')
            self.assertNotIn('Sup3r', result.stderr + result.stdout)

    def test_usage_errors_exit_2(self):
        for arguments in ((), ('db', 'downgrade'),
                          ('api_db', 'version', 'extra')):
            result = self.run_manage(*arguments, expect=2)
            self.assertIn('usage:', result.stderr)

    def test_missing_config_file_is_one_line(self):
        missing = os.path.join(self.directory, 'missing.conf')
        result = self.run_manage('db', 'version', config_file=missing,
                                 expect=2)
        self.assertOneErrorLine(result, missing)

    def test_config_file_that_is_a_directory_is_one_line(self):
        result = self.run_manage('db', 'version',
                                 config_file=self.directory, expect=2)
        self.assertOneErrorLine(result, self.directory)
