"""``nova-cells-manage api_db|db``, run as an operator runs it: the
installed console script, in a subprocess, with a config file."""

import os

from nova_cells.db import migration
from nova_cells.tests.fixtures import cli


class TestManageDatabases(cli.ManageTestCase):

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
