"""``nova-cells-manage`` given what it must refuse or cannot use: a
missing, schema-less, read-only or too-new API database, bad cell names,
empty uuids, cell0 with a queue, typo'd SQLite paths. Through the console
script, as an operator meets them."""

import os
import sqlite3
import stat

from oslo_utils import uuidutils

from nova_cells.cells_admin import cells as cells_admin
from nova_cells.db import migration
from nova_cells.tests.fixtures import cli


def _sqlite_path(url: str) -> str:
    return url.partition('sqlite:///')[2]


class TestAPIDatabaseState(cli.ManageTestCase):
    """The API database is the embedded default under ``self.state``."""

    def api_path(self) -> str:
        return os.path.join(self.state, 'nova_cells_api.sqlite')

    def test_read_only_command_never_creates_a_database(self):
        for arguments in (('cell_v2', 'list_cells'),
                          ('cell_v2', 'list_hosts'),
                          ('cell_v2', 'verify_instance', '--uuid',
                           uuidutils.generate_uuid())):
            result = self.run_manage(*arguments, expect=1)
            self.assertOneErrorLine(result, 'no API database',
                                    self.api_path(), 'api_db sync')
        self.assertFalse(os.path.exists(self.state))

    def test_no_schema_says_which_sync_to_run(self):
        os.makedirs(self.state)
        sqlite3.connect(self.api_path()).close()
        result = self.run_manage('cell_v2', 'list_cells', expect=1)
        self.assertOneErrorLine(result, 'no schema',
                                'nova-cells-manage api_db sync')
        self.assertNotIn('no such table', result.stderr)
        # A main database without its schema names db sync.
        self.run_manage('api_db', 'sync')
        result = self.run_manage('cell_v2', 'map_cell_and_hosts',
                                 '--transport-url', 'fake://', expect=1)
        self.assertOneErrorLine(result, 'nova-cells-manage db sync')

    def test_state_directory_and_databases_are_private(self):
        self.run_manage('api_db', 'sync')
        self.run_manage('db', 'sync')
        self.assertEqual(0o700, stat.S_IMODE(os.stat(self.state).st_mode))
        for name in ('nova_cells_api.sqlite', 'nova_cells.sqlite'):
            mode = stat.S_IMODE(os.stat(os.path.join(self.state,
                                                     name)).st_mode)
            self.assertEqual(0o600, mode, name)

    def test_writing_commands_refuse_an_unknown_revision(self):
        self.run_manage('api_db', 'sync')
        self.run_manage('db', 'sync')
        self.run_manage('cell_v2', 'map_cell0')
        with sqlite3.connect(self.api_path()) as connection:
            connection.execute("UPDATE nova_cells_api_version "
                               "SET version_num = 'api_9999_future'")
        before = self.run_manage('cell_v2', 'list_cells', '--format',
                                 'json').stdout
        cell0 = cells_admin.CELL0_UUID
        for arguments in (
                ('cell_v2', 'create_cell', '--name', 'c1',
                 '--transport-url', 'fake://'),
                ('cell_v2', 'update_cell', '--cell_uuid', cell0, '--name',
                 'renamed'),
                ('cell_v2', 'map_instances', '--cell_uuid', cell0),
                ('cell_v2', 'delete_cell', '--cell_uuid', cell0,
                 '--force-cell0'),
                ('db', 'sync', '--all-cells')):
            result = self.run_manage(*arguments, expect=1)
            self.assertOneErrorLine(result, 'api_9999_future',
                                    'refusing to write')
        self.assertEqual(before, self.run_manage(
            'cell_v2', 'list_cells', '--format', 'json').stdout)

    def test_read_only_database_serves_read_only_commands(self):
        self.run_manage('api_db', 'sync')
        self.run_manage('db', 'sync')
        self.run_manage('cell_v2', 'map_cell0')
        with sqlite3.connect(self.api_path()) as connection:
            # A database written by a tool that did not choose WAL.
            connection.execute('PRAGMA journal_mode = DELETE')
        config_file = self.write_config(
            '[DEFAULT]\nstate_path = %s\n[api_database]\nconnection = '
            'sqlite:///file:%s?mode=ro&uri=true\n' % (self.state,
                                                     self.api_path()),
            name='read-only.conf')
        for arguments in (('cell_v2', 'list_cells'),
                          ('cell_v2', 'list_hosts'),
                          ('api_db', 'version'),
                          ('cell_v2', 'verify_instance', '--uuid',
                           uuidutils.generate_uuid())):
            result = self.run_manage(*arguments, config_file=config_file,
                                     expect=1 if 'verify_instance' in
                                     arguments else 0)
            self.assertNotIn('readonly', result.stderr)
        self.assertIn('cell0', self.run_manage(
            'cell_v2', 'list_cells', config_file=config_file).stdout)
        self.assertEqual(migration.head(migration.API), self.run_manage(
            'api_db', 'version',
            config_file=config_file).stdout.strip().splitlines()[-1])
        # A writing command says why it cannot (the database users on
        # MySQL and PostgreSQL: test_read_only_user).
        result = self.run_manage('cell_v2', 'update_cell', '--cell_uuid',
                                 cells_admin.CELL0_UUID, '--name', 'x',
                                 config_file=config_file, expect=1)
        self.assertOneErrorLine(result, 'readonly', 'permission denied',
                                'is read-only')


class TestRefusedValues(cli.CellV2TestCase):

    def test_missing_directory_of_a_cell_database_is_an_error(self):
        missing = os.path.join(self.directory, 'typo', 'cell1.sqlite')
        created = self.manage('create_cell', '--name', 'typo',
                              '--transport-url', 'fake://',
                              '--database_connection',
                              'sqlite:///' + missing, '--verbose')
        uuid = created.stdout.strip().splitlines()[-1]
        result = self.manage('sync', '--all-cells', category='db', expect=1)
        self.assertIn(uuid, result.stderr)
        self.assertIn('%s does not exist' % os.path.dirname(missing),
                      result.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(missing)))

    def test_empty_cell_uuid_is_bad_input(self):
        for action in ('discover_hosts', 'list_hosts', 'map_instances',
                       'delete_cell'):
            result = self.manage(action, '--cell_uuid', '', expect=2)
            self.assertIn('must not be empty', result.stderr)

    def test_cell_names_are_one_printable_line(self):
        url = self.cell_urls(1)[0]
        created = self.manage('create_cell', '--name', 'good',
                              '--transport-url', 'fake://',
                              '--database_connection', url, '--verbose')
        uuid = created.stdout.strip().splitlines()[-1]
        for name in ('two\nlines', 'red\x1b[31mred', 'x' * 100000, ' '):
            self.assertOneErrorLine(self.manage(
                'create_cell', '--name', name, '--transport-url', 'fake://',
                '--database_connection', url + '2', expect=1),
                'Invalid cell name')
            self.assertOneErrorLine(self.manage(
                'update_cell', '--cell_uuid', uuid, '--name', name,
                expect=2), 'Invalid cell name')
        # A name stored by older code is shown escaped, on its line.
        with sqlite3.connect(_sqlite_path(self.api_url)) as connection:
            connection.execute("UPDATE cell_mappings SET name = ?",
                               ('evil\n\x1b[2Jname',))
        listing = self.manage('list_cells').stdout
        self.assertNotIn('\x1b', listing)
        self.assertIn('evil\\n\\x1b[2Jname', listing)

    def test_cell0_never_gets_a_queue(self):
        self.manage('map_cell0')
        cell0 = cells_admin.CELL0_UUID
        for arguments in (('--transport-url', 'rabbit://u:p@h:5672/'),
                          ('--database_connection', '')):
            self.manage('update_cell', '--cell_uuid', cell0, *arguments,
                        expect=2)
        self.assertIn('none:///', self.manage('list_cells').stdout)

    def test_out_of_range_counts_give_no_traceback(self):
        url = self.cell_urls(1)[0]
        uuid = self.manage('create_cell', '--name', 'c1',
                           '--transport-url', 'fake://',
                           '--database_connection', url,
                           '--verbose').stdout.strip().splitlines()[-1]
        for option in ('--batch-size', '--max-count'):
            result = self.manage('map_instances', '--cell_uuid', uuid,
                                 option, '9' * 23, expect=127)
            self.assertOneErrorLine(result, option)
            self.assertNotIn('Traceback', result.stdout)
        # A cell "database" that is no SQLite database: one line each.
        with open(_sqlite_path(url), 'w') as handle:
            handle.write('not a database\n' * 100)
        result = self.manage('discover_hosts', expect=3)
        self.assertNotIn('Traceback', result.stdout + result.stderr)
        result = self.manage('map_instances', '--cell_uuid', uuid, expect=1)
        self.assertNotIn('Traceback', result.stdout + result.stderr)
        self.assertOneErrorLine(result, 'not a database')

    def test_delete_cell_force_never_trusts_a_wrong_database(self):
        real, wrong = self.cell_urls(2)
        uuid = self.manage('create_cell', '--name', 'c1',
                           '--transport-url', 'fake://',
                           '--database_connection', real,
                           '--verbose').stdout.strip().splitlines()[-1]
        with sqlite3.connect(_sqlite_path(real)) as connection:
            connection.executemany(
                'INSERT INTO instances (uuid, project_id, deleted) '
                'VALUES (?, ?, 0)',
                [(uuidutils.generate_uuid(), 'p1') for _ in range(5)])
        self.manage('map_instances', '--cell_uuid', uuid)
        # A typo points the cell at an empty (migrated) database.
        self.manage('update_cell', '--cell_uuid', uuid,
                    '--database_connection', wrong)
        result = self.manage('delete_cell', '--cell_uuid', uuid, '--force',
                             expect=6)
        self.assertOneErrorLine(result, '5 of the 5 instance(s)')
        with sqlite3.connect(_sqlite_path(self.api_url)) as connection:
            self.assertEqual(5, connection.execute(
                'SELECT COUNT(*) FROM instance_mappings').fetchone()[0])
        # Pointed back at its real database, the live instances refuse.
        self.manage('update_cell', '--cell_uuid', uuid,
                    '--database_connection', real)
        self.manage('delete_cell', '--cell_uuid', uuid, '--force', expect=3)
