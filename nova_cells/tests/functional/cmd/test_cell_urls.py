"""Cell URLs through the console script: one database and one queue per
cell however spelled, URLs that can never work refused when given, and
no part of a URL that may be a password in any output.

Issue 18 items 1-4, 6, 7 and issue 11 items 2, 4. The hostile values are
kept as tables so new commands can be run against them too.
"""

import json
import os

from nova_cells.tests.fixtures import cli

PLANTED = 'Pl4ntedSecret'
QUEUE = 'rabbit://guest:%s@127.0.0.1:5672/c1' % PLANTED
SERVER_DATABASE = 'mysql+pymysql://nova:%s@localhost:3306/celldb' % PLANTED

#: (description, transport URL, database URL or None for a fresh cell
#: database) that create_cell must refuse with exit 2: what they reach is
#: in use by the cells the test creates first.
IN_USE = (
    ('same queue, other credentials and a default port written out',
     'rabbit://other:%sX@localhost/c1' % PLANTED, None),
    ('same queue through a loopback spelling',
     'rabbit://guest:%s@127.1:5672/c1' % PLANTED, None),
    ('same server database under the mariadb dialect and 127.1',
     'rabbit://guest:%s@127.0.0.1/c9' % PLANTED,
     'mariadb+pymysql://other:%s@127.1/celldb' % PLANTED),
)

#: (description, transport URL, database URL) create_cell must refuse with
#: exit 1; '{api}' stands for the API database URL.
UNUSABLE = (
    ('the API database itself', None, '{api}'),
    ('a file that is not a SQLite database', None, 'sqlite:////etc/passwd'),
    ('a relative SQLite path', None, 'sqlite:///cell-relative.sqlite'),
    ('a server URL naming no host', None, 'mysql+pymysql:///celldb2'),
    ('a server URL naming no database', None,
     'mysql+pymysql://nova:%s@db.example.org/' % PLANTED),
    ('a database port out of range', None,
     'mysql+pymysql://nova:%s@db.example.org:99999999/x' % PLANTED),
    ('a password in the port position', None,
     'mysql+pymysql://nova@db.example.org:%s/x' % PLANTED),
    ('a bare secret as a database URL', None, PLANTED),
    ('a transport port out of range',
     'rabbit://guest:%s@127.0.0.1:99999999/c7' % PLANTED, None),
    ('a password in the host position',
     'rabbit://guest@%s:mq.example.org/c7' % PLANTED, None),
    ('a bare secret as a transport URL', PLANTED, None),
)


class TestCellURLRefusals(cli.CellV2TestCase):

    def assertNoSecret(self, result) -> None:
        for stream in (result.stdout, result.stderr):
            self.assertNotIn(PLANTED, stream, ' '.join(result.args))

    def stored_cells(self) -> list[dict]:
        return json.loads(self.manage('list_cells', '--verbose', '--format',
                                      'json').stdout)

    def test_in_use_and_unusable_urls_are_refused(self):
        databases = self.cell_urls(6)
        first = databases.pop()
        created = self.manage('create_cell', '--name', 'c1',
                              '--transport-url', QUEUE,
                              '--database_connection', first, '--verbose')
        c1 = created.stdout.split()[-1]
        self.manage('create_cell', '--name', 'server', '--transport-url',
                    'rabbit://guest:%s@127.0.0.1/server' % PLANTED,
                    '--database_connection', SERVER_DATABASE)
        # cell0 on another cell's database, before cell0 exists.
        refused_cell0 = self.manage('map_cell0', '--database_connection',
                                    first, expect=1)
        self.assertOneErrorLine(refused_cell0, c1)
        self.manage('map_cell0')
        before = self.stored_cells()

        calls = []
        for _what, transport, database in IN_USE:
            calls.append((('create_cell', '--transport-url', transport,
                           '--database_connection',
                           database or databases.pop()), 2))
        # The same SQLite file as c1 in its URI form and through a path
        # with a "." in it.
        calls.append((('create_cell', '--transport-url',
                       'rabbit://guest:%s@127.0.0.1/c8' % PLANTED,
                       '--database_connection',
                       'sqlite:///file:%s?uri=true' % first[len(
                           'sqlite:///'):]), 2))
        directory, name = os.path.split(first[len('sqlite:///'):])
        calls.append((('create_cell', '--transport-url',
                       'rabbit://guest:%s@127.0.0.1/c8' % PLANTED,
                       '--database_connection', 'sqlite:///%s/./%s' % (
                           directory, name)), 2))
        for _what, transport, database in UNUSABLE:
            calls.append((('create_cell', '--transport-url',
                           transport or 'rabbit://guest:%s@127.0.0.1/ok'
                           % PLANTED, '--database_connection',
                           (database or databases.pop()).replace(
                               '{api}', self.api_url)), 1))
        update = ('update_cell', '--cell_uuid', c1)
        calls.append(((*update, '--transport-url',
                       'rabbit://x:%s@localhost/server' % PLANTED), 3))
        calls.append(((*update, '--database_connection',
                       SERVER_DATABASE.replace('localhost', '127.1')), 3))
        results = self.manage_at_once(*calls)
        for result in results:
            self.assertOneErrorLine(result)
            self.assertNoSecret(result)
        self.assertEqual(before, self.stored_cells())

    def test_none_transport_is_never_in_use(self):
        first, second = self.cell_urls(2)
        for database in (first, second):
            self.manage('create_cell', '--transport-url', 'none:///',
                        '--database_connection', database)

    def test_host_names_that_may_resolve_alike_are_warned_about(self):
        self.manage('create_cell', '--transport-url', 'none:///',
                    '--database_connection',
                    'mysql+pymysql://u:%s@db.example.org/nova' % PLANTED)
        result = self.manage(
            'create_cell', '--transport-url', 'none:///',
            '--database_connection',
            'mysql+pymysql://u:%s@db-alias.example.org/nova' % PLANTED)
        self.assertIn('may be the same database', result.stderr)
        self.assertNoSecret(result)


class TestSecretsInOutput(cli.CellV2TestCase):

    def test_password_like_parameters_and_positions_are_masked(self):
        database = self.cell_urls(1)[0]
        self.manage('create_cell', '--name', 'odd', '--transport-url',
                    'rabbit://:%s@mq.example.org/odd' % PLANTED,
                    '--database_connection',
                    '%s?pw=%s&secret_key=%s' % (database, PLANTED, PLANTED))
        listing = self.manage('list_cells')
        self.assertNoSecret(listing)
        self.assertIn('odd', listing.stdout)

    def assertNoSecret(self, result) -> None:
        for stream in (result.stdout, result.stderr):
            self.assertNotIn(PLANTED, stream, ' '.join(result.args))

    def test_configured_urls_are_checked_before_an_engine_is_built(self):
        # A configuration that cannot be used exits 2, as a bad command
        # line does (nova_cells.cmd.common.EXIT_USAGE).
        good_api = self.api_url
        for api_url, main_url, codes in (
                # An unencoded "@": the driver would be sent, and print,
                # the password's tail as the host name.
                ('mysql+pymysql://nova:%s@word@127.0.0.1/nova_api'
                 % PLANTED, self.main_url,
                 {'list_cells': 2, 'discover_hosts': 2}),
                # A password in the port position.
                (good_api, 'mysql+pymysql://nova@127.0.0.1:%s/nova'
                 % PLANTED, {'version': 2, 'map_cell0': 2})):
            self.api_url, self.main_url = api_url, main_url
            self.config_file = self.write_config()
            for command, code in codes.items():
                result = self.manage(
                    command, expect=code,
                    category='db' if command == 'version' else 'cell_v2')
                self.assertNoSecret(result)
                self.assertNotIn('word@', result.stdout + result.stderr)
                self.assertOneErrorLine(result)
