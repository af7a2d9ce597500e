"""The category framework and the one-line errors of nova-cells-manage."""

import argparse
import io

import fixtures
import testtools

from nova_cells.cmd import common


def _parser_for(category: common.Category) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='nova-cells-manage')
    subparsers = parser.add_subparsers(dest='category')
    subparsers.required = True
    category.register(subparsers)
    return parser


class TestCategory(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.calls = []

        def sync(version=None, force=False):
            self.calls.append((version, force))

        self.category = common.Category('things', 'Things.', [
            common.Action('sync', sync, 'Sync things.', [
                common.argument('version', nargs='?'),
                common.argument('force', '--force', action='store_true')]),
        ])

    def test_handler_gets_its_arguments_by_keyword(self):
        parsed = _parser_for(self.category).parse_args(
            ['things', 'sync', 'v2', '--force'])
        handler, arguments = common.handler_and_arguments(parsed)
        self.assertEqual({'version': 'v2', 'force': True}, arguments)
        handler(**arguments)
        self.assertEqual([('v2', True)], self.calls)

    def test_defaults_apply_when_arguments_are_left_out(self):
        parsed = _parser_for(self.category).parse_args(['things', 'sync'])
        self.assertEqual({'version': None, 'force': False},
                         common.handler_and_arguments(parsed)[1])

    def test_an_action_is_required(self):
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))
        error = self.assertRaises(SystemExit, _parser_for(
            self.category).parse_args, ['things'])
        self.assertEqual(common.EXIT_USAGE, error.code)


class TestErrorLine(testtools.TestCase):

    def test_first_line_only(self):
        error = RuntimeError('(pymysql.err.OperationalError) refused\n'
                             '[SQL: SELECT 1]\n(Background on this error)')
        self.assertEqual('(pymysql.err.OperationalError) refused',
                         common.error_line(error))

    def test_every_url_in_the_message_is_masked(self):
        error = RuntimeError("cannot use 'mysql+pymysql://nova:s3cret@db/"
                             "nova' nor rabbit://u:p4ss@mq:5672/")
        line = common.error_line(error)
        self.assertNotIn('s3cret', line)
        self.assertNotIn('p4ss', line)
        self.assertIn('mysql+pymysql://nova:***@db/nova', line)
        self.assertIn('rabbit://u:***@mq:5672/', line)

    def test_password_assignments_are_masked(self):
        line = common.error_line(ValueError('bad password=s3cret here'))
        self.assertNotIn('s3cret', line)

    def test_empty_message_names_the_exception(self):
        self.assertEqual('KeyError', common.error_line(KeyError()))

    def test_a_refused_write_says_read_only_and_which_database(self):
        for text, which in (
                ('(sqlite3.OperationalError) attempt to write a readonly '
                 'database', 'the database'),
                ("(pymysql.err.OperationalError) (1142, \"INSERT command "
                 "denied to user 'ro'@'127.0.0.1' for table `nc_api`."
                 "`cell_mappings`\")", 'the API database'),
                ('(psycopg2.errors.InsufficientPrivilege) permission denied '
                 'for table instance_mappings', 'the API database'),
                ('(psycopg2.errors.InsufficientPrivilege) permission denied '
                 'for table instances', 'the database')):
            line = common.error_line(RuntimeError(text + '\n[SQL: ...]'))
            self.assertTrue(line.startswith(text), line)
            self.assertIn('%s is read-only' % which, line)
            self.assertEqual(1, line.count('permission denied'), line)
            self.assertNotIn('\n', line)

    def test_a_refused_read_is_not_called_read_only(self):
        line = common.error_line(RuntimeError(
            "(1142, \"SELECT command denied to user 'u'@'h' for table "
            "`db`.`cell_mappings`\")"))
        self.assertNotIn('read-only', line)


class _Specific(LookupError):
    pass


class TestExitCodes(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.action = common.Action(
            'find', lambda: None, 'Find a thing.', (),
            [common.exit_code(0, 'found'),
             common.exit_code(3, 'not there', LookupError),
             common.exit_code(4, 'not there either', _Specific),
             common.exit_code(5, 'returned, never raised')])

    def test_help_lists_every_declared_code(self):
        self.assertEqual(
            'Find a thing. Exit 0 found; 3 not there; 4 not there either; '
            '5 returned, never raised.', self.action.help)

    def test_the_most_specific_declared_exception_decides(self):
        self.assertEqual(4, self.action.exit_code_for(_Specific()))
        self.assertEqual(3, self.action.exit_code_for(KeyError('k')))

    def test_an_undeclared_exception_is_a_failure(self):
        self.assertEqual(common.EXIT_FAILURE,
                         self.action.exit_code_for(RuntimeError()))

    def test_parsed_arguments_name_their_action(self):
        category = common.Category('things', 'Things.', [self.action])
        parsed = _parser_for(category).parse_args(['things', 'find'])
        self.assertEqual((self.action, {}),
                         common.action_and_arguments(parsed))
