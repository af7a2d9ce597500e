"""``nova-cells-manage`` itself: options, help, and configuration mistakes,
run as an operator runs it (the console script, in a subprocess)."""

import os

from nova_cells.tests.fixtures import cli

SECRET = 'Zq9SecretPw'


class TestCommandLine(cli.ManageTestCase):

    def run_plain(self, *arguments, expect=0):
        """Run with exactly these arguments (no config file added)."""
        result = self.run_command(list(arguments))
        self.assertEqual(expect, result.returncode,
                         'stdout:\n%s\nstderr:\n%s' % (result.stdout,
                                                       result.stderr))
        return result

    def test_version(self):
        result = self.run_plain('--version')
        self.assertRegex(result.stdout.strip(), r'^\d+\.\d+')

    def test_unknown_option_prints_the_actions_usage(self):
        result = self.run_manage('cell_v2', 'list_cells', '--bogus',
                                 expect=2)
        self.assertIn('usage: nova-cells-manage cell_v2 list_cells',
                      result.stderr)
        self.assertIn('unrecognized arguments: --bogus', result.stderr)

    def test_help_names_values_not_internal_destinations(self):
        for action in ('create_cell', 'update_cell', 'map_instances',
                       'discover_hosts', 'delete_host', 'list_cells'):
            result = self.run_manage('cell_v2', action, '--help')
            self.assertNotIn('ACTION_ARGUMENT', result.stdout)
        self.assertIn('--transport-url TRANSPORT_URL', self.run_manage(
            'cell_v2', 'create_cell', '--help').stdout)

    def test_config_file_that_is_not_utf8(self):
        path = os.path.join(self.directory, 'binary.conf')
        for content in (bytes(range(128, 256)),
                        '[database]\nconnection = x\n'.encode('utf-16')):
            with open(path, 'wb') as handle:
                handle.write(content)
            result = self.run_manage('cell_v2', 'list_cells',
                                     config_file=path, expect=2)
            self.assertOneErrorLine(result, path, 'not UTF-8')

    def test_log_file_that_cannot_be_written(self):
        path = os.path.join(self.directory, 'missing', 'manage.log')
        result = self.run_manage('--log-file', path, 'api_db', 'version',
                                 expect=2)
        self.assertOneErrorLine(result, 'log file', path)
        self.assertNotIn('configuration', result.stderr)

    def test_bad_log_config_append_is_one_line(self):
        path = self.write_config('not an ini file\n', name='logging.conf')
        result = self.run_manage('--log-config-append', path, 'api_db',
                                 'version', expect=2)
        self.assertOneErrorLine(result, path)

    def test_bad_option_value_is_a_usage_error_naming_it(self):
        config_file = self.write_config(
            '[DEFAULT]\nstate_path = %s\n[database]\nmax_retries = many\n'
            % self.state, name='bad.conf')
        result = self.run_manage('api_db', 'version',
                                 config_file=config_file, expect=2)
        self.assertOneErrorLine(result, '[database] max_retries',
                                config_file)
        self.assertNotIn('LocationInfo', result.stderr)

    def test_typo_in_a_config_file_is_named(self):
        config_file = self.write_config(
            '[api_database]\nconection = mysql+pymysql://u:%s@db/api\n'
            % SECRET, name='typo.conf')
        result = self.run_manage('api_db', 'version',
                                 config_file=config_file)
        warnings = result.stderr.splitlines()
        self.assertEqual(2, len(warnings), result.stderr)
        self.assertIn(config_file, warnings[0])
        self.assertIn('[api_database] conection', warnings[0])
        self.assertIn('did you mean connection', warnings[0])
        # ... and the fallback to the embedded database is said, once.
        self.assertIn('embedded SQLite', warnings[1])
        self.assertNotIn(SECRET, result.stderr + result.stdout)

    def test_embedded_default_without_config_is_silent(self):
        environment = dict(self.environment,
                           NOVA_CELLS_STATE_PATH=self.state)
        result = self.run_command(['api_db', 'version'], config_file=None,
                                  environment=environment)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('', result.stderr)

    def test_config_choosing_state_path_is_silent(self):
        self.assertEqual('', self.run_manage('api_db', 'version').stderr)

    def test_malformed_urls_in_config_name_option_and_file(self):
        for url in ('mysql+pymysql://u:%s@h:notaport/db' % SECRET,
                    'foodb://u:%s@h/db' % SECRET):
            config_file = self.write_config(
                '[DEFAULT]\nstate_path = %s\n[database]\nconnection = %s\n'
                % (self.state, url), name='url.conf')
            for arguments in (('db', 'version'), ('cell_v2', 'list_cells'),
                              ('--debug', 'db', 'sync')):
                result = self.run_manage(*arguments,
                                         config_file=config_file, expect=2)
                self.assertOneErrorLine(result, '[database] connection',
                                        config_file)
                self.assertNotIn(SECRET, result.stderr + result.stdout)
                self.assertNotIn('invalid literal', result.stderr)

    def test_malformed_transport_url_in_config_names_option_and_file(self):
        for url in ('rabbit://u:%s@h:notaport/' % SECRET,
                    'rabbit://u:%s@h:99999999/' % SECRET,
                    'rabbit://u:p@ss%s@h/' % SECRET):
            config_file = self.write_config(
                '[DEFAULT]\nstate_path = %s\ntransport_url = %s\n'
                % (self.state, url), name='queue.conf')
            for arguments in (('cell_v2', 'list_cells'),
                              ('cell_v2', 'create_cell', '--name', 'c1')):
                result = self.run_manage(*arguments,
                                         config_file=config_file, expect=2)
                self.assertOneErrorLine(result, '[DEFAULT] transport_url',
                                        config_file)
                self.assertNotIn(SECRET, result.stderr + result.stdout)


class TestNoTransportURL(cli.ManageTestCase):
    """oslo.messaging's built-in ``rabbit://`` is nobody's configuration."""

    def test_commands_needing_one_refuse(self):
        self.run_manage('api_db', 'sync')
        for arguments in (('create_cell', '--name', 'c1'),
                          ('simple_cell_setup',),
                          ('map_cell_and_hosts',)):
            result = self.run_manage('cell_v2', *arguments, expect=1)
            self.assertOneErrorLine(result, 'No transport URL',
                                    '--transport-url')
        listing = self.run_manage('cell_v2', 'list_cells', '--format',
                                  'json')
        self.assertEqual('[]', listing.stdout.strip())


class TestLegacyInlineUnique(cli.ManageTestCase):
    """Nova's legacy tables on SQLite with ``UNIQUE`` on the column itself
    (SQLite's automatic unique index) are adopted."""

    def test_api_and_main_databases_are_adopted(self):
        from nova_cells.db import migration
        from nova_cells.tests.fixtures import legacy_schemas

        urls = {}
        for database in ('api', 'main'):
            path = os.path.join(self.directory, '%s.sqlite' % database)
            urls[database] = 'sqlite:///' + path
            legacy_schemas.create(urls[database], database,
                                  inline_unique=True)
        config_file = self.write_config(
            '[DEFAULT]\nstate_path = %s\n[api_database]\nconnection = %s\n'
            '[database]\nconnection = %s\n' % (self.state, urls['api'],
                                               urls['main']),
            name='legacy.conf')
        for category, database in (('api_db', migration.API),
                                   ('db', migration.MAIN)):
            self.run_manage(category, 'sync', config_file=config_file)
            version = self.run_manage(category, 'version',
                                      config_file=config_file)
            self.assertEqual(migration.head(database),
                             version.stdout.strip().splitlines()[-1])
