"""benchmarks/run.py: the report a newcomer and the README rely on.

Fake results and tiny fake benchmark scripts only: the real benchmarks
take minutes and belong to ``benchmarks/run.py`` itself.
"""

import importlib.util
import io
import json
import os
import signal
import textwrap

import fixtures
import testtools

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
_RUN_PATH = os.path.join(_REPO_ROOT, 'benchmarks', 'run.py')


def _load_run_module():
    # By path: the benchmarks directory is not part of the installed
    # package, and the tests may run from any working directory.
    spec = importlib.util.spec_from_file_location('benchmarks_run',
                                                  _RUN_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_run = _load_run_module()

MACHINE = {'cpu_count': 2, 'cpu_model': 'Test CPU', 'memory_gib': 4.0,
           'python': '3.11.7', 'packages': {'SQLAlchemy': '2.1.9'},
           'backend': 'sqlite files', 'platform': 'Linux',
           'git_commit': None}

FAKE_RESULT = {
    'benchmark': 'bench_fake',
    'workload': {'backend': 'sqlite files', 'cell_counts': [2, 200]},
    'goals': {'fast_enough': True, 'flat_within_1_5x': False,
              'limit_us': 10.0},
    'show_instance': {
        'cells_2': {'median_us': 312.44, 'p99_us': 900.0, 'iterations': 5},
        'cells_200': {'median_us': 330.0, 'p99_us': 1234.5},
    },
    'ratios': {'show_median_200_over_2': 1.06},
    'rabbit_call_ms': {'skipped': 'RabbitMQ not reachable'},
    'router_client_warm_us': {'median': 0.214, 'p99': 0.5},
    'map_all': {'instances_per_second': 25000, 'seconds': 4.0},
    'profile': 'a long cProfile dump that is not a figure',
}


def _fake_outcomes():
    return {
        'bench_fake': {'status': 'ok', 'seconds': 1.5,
                       'result': FAKE_RESULT},
        'bench_broken': {'status': 'failed', 'seconds': 0.2,
                         'error': 'exit code 1: ValueError: a | b'},
    }


def _tables(markdown):
    """Each Markdown table as a list of its rows' cells."""
    tables, current = [], None
    for line in markdown.splitlines():
        if line.startswith('|'):
            if current is None:
                current = []
                tables.append(current)
            cells = line.replace('\\|', '').strip('|').split('|')
            current.append([cell.strip() for cell in cells])
        else:
            current = None
    return tables


class TestReportWriter(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.directory = self.useFixture(fixtures.TempDir()).path
        self.report = bench_run.build_report(
            _fake_outcomes(), MACHINE, '2025-01-01T00:00:00+00:00',
            '2025-01-01T00:01:00+00:00')
        self.json_path, self.md_path = bench_run.write_report(
            self.report, os.path.join(self.directory, 'results'))
        with open(self.md_path, encoding='utf-8') as stream:
            self.markdown = stream.read()

    def test_json_holds_every_figure_failure_and_missed_goal(self):
        with open(self.json_path, encoding='utf-8') as stream:
            written = json.load(stream)
        self.assertEqual(['bench_broken'], written['failed'])
        self.assertEqual(['bench_fake.flat_within_1_5x'],
                         written['goals_missed'])
        self.assertEqual(MACHINE, written['machine'])
        self.assertEqual(FAKE_RESULT,
                         written['benchmarks']['bench_fake']['result'])
        self.assertEqual(
            'exit code 1: ValueError: a | b',
            written['benchmarks']['bench_broken']['error'])
        self.assertEqual(['latest.json', 'latest.md'],
                         sorted(os.listdir(os.path.dirname(
                             self.json_path))))

    def test_summary_table_gives_status_and_goals(self):
        summary = _tables(self.markdown)[0]
        self.assertEqual(['benchmark', 'status', 'seconds', 'goals'],
                         summary[0])
        rows = {row[0]: row for row in summary[2:]}
        self.assertEqual(['bench_fake', 'ok', '1.5',
                          '1/2 met; missed: flat_within_1_5x'],
                         rows['bench_fake'])
        self.assertEqual('**FAILED**', rows['bench_broken'][1])
        self.assertIn('**FAILED**: exit code 1: ValueError: a \\| b',
                      self.markdown)
        self.assertIn('Test CPU', self.markdown)
        self.assertIn('Workload: backend sqlite files, cell_counts 2, 200.',
                      self.markdown)

    def test_figures_table_shows_medians_p99s_ratios_and_goals(self):
        figures = _tables(self.markdown)[1]
        self.assertEqual(['figure', 'median / value', 'p99'], figures[0])
        rows = figures[2:]
        by_name = {row[0]: row[1:] for row in rows}
        self.assertEqual(['median 312.4 µs', '900.0 µs'],
                         by_name['show_instance.cells_2'])
        self.assertEqual(['median 330.0 µs', '1,234 µs'],
                         by_name['show_instance.cells_200'])
        self.assertEqual(['median 0.214 µs', '0.5 µs'],
                         by_name['router_client_warm_us'])
        self.assertEqual(['1.06', ''], by_name['show_median_200_over_2'])
        self.assertEqual(['skipped: RabbitMQ not reachable', ''],
                         by_name['rabbit_call_ms'])
        self.assertEqual(['25,000', ''],
                         by_name['map_all.instances_per_second'])
        self.assertEqual(['met', ''], by_name['goal: fast_enough'])
        self.assertEqual(['**MISSED**', ''],
                         by_name['goal: flat_within_1_5x'])
        # Goals close the table; descriptions are not figures.
        self.assertTrue(all(row[0].startswith('goal: ')
                            for row in rows[-3:]))
        self.assertNotIn('profile', by_name)
        self.assertNotIn('benchmark', by_name)

    def test_every_table_row_has_its_header_column_count(self):
        for table in _tables(self.markdown):
            for row in table:
                self.assertEqual(len(table[0]), len(row), row)


# A benchmark that runs Nova: run.py knows it by its import (a comment
# here), and passes --nova to it through the environment.
_NOVA_BENCHMARK = """
import json
import os
# import nova34
print(json.dumps({'mode': os.environ.get('NOVA_CELLS_BENCH_NOVA')}))
"""


class TestRunningBenchmarks(testtools.TestCase):
    """main() on fake benchmark scripts, each a short subprocess."""

    def setUp(self):
        super().setUp()
        self.benchmarks = self.useFixture(fixtures.TempDir()).path
        self.output = self.useFixture(fixtures.TempDir()).path
        self._script('bench_good', '''
            import json
            print('a library saying hello on stdout')
            print(json.dumps({'x_us': {'median_us': 1.0, 'p99_us': 2.0},
                              'goals': {'ok': True}}))
            ''')
        self._script('bench_boom', '''
            import sys
            print('partial output')
            print('a warning first', file=sys.stderr)
            raise RuntimeError('boom\\nsecond line of the message')
            ''')
        self._script('bench_silent', 'print("no json here")')
        self.useFixture(fixtures.MockPatchObject(
            bench_run, 'machine_facts', lambda: MACHINE))
        # Progress lines go to stderr; keep the test output quiet.
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', io.StringIO()))

    def _script(self, name, source):
        with open(os.path.join(self.benchmarks, name + '.py'), 'w') as out:
            out.write(textwrap.dedent(source))

    def _main(self, *argv):
        code = bench_run.main(['--benchmarks-dir', self.benchmarks,
                               '--output-dir', self.output, *argv])
        with open(os.path.join(self.output, 'latest.json')) as stream:
            return code, json.load(stream)

    def test_failures_are_reported_and_exit_non_zero(self):
        code, report = self._main()
        self.assertEqual(1, code)
        self.assertEqual(['bench_boom', 'bench_good', 'bench_silent'],
                         sorted(report['benchmarks']))
        self.assertEqual(['bench_boom', 'bench_silent'], report['failed'])
        outcomes = report['benchmarks']
        self.assertEqual('exit code 1: RuntimeError: boom',
                         outcomes['bench_boom']['error'])
        self.assertEqual('no JSON object on stdout: no json here',
                         outcomes['bench_silent']['error'])
        self.assertEqual({'median_us': 1.0, 'p99_us': 2.0},
                         outcomes['bench_good']['result']['x_us'])
        with open(os.path.join(self.output, 'latest.md')) as stream:
            markdown = stream.read()
        self.assertIn('**FAILED**: exit code 1: RuntimeError: boom',
                      markdown)
        self.assertIn('| bench_good | ok |', markdown)
        self.assertIn('| all 1 met |', markdown)

    def test_only_runs_the_named_benchmarks(self):
        code, report = self._main('--only', 'good')
        self.assertEqual(0, code)
        self.assertEqual(['bench_good'], list(report['benchmarks']))
        self.assertEqual([], report['failed'])

    def test_nova_is_built_first_only_for_benchmarks_that_run_it(self):
        build = self.useFixture(fixtures.MockPatchObject(
            bench_run.nova34, 'build')).mock
        self._script('bench_nova', _NOVA_BENCHMARK)
        self._main('--only', 'good')
        build.assert_not_called()
        code, report = self._main('--only', 'nova')
        self.assertEqual(0, code)
        build.assert_called_once_with()
        self.assertIsNone(report['benchmarks']['bench_nova']['result'][
            'mode'])

    def test_nova_skip_reaches_the_benchmarks_and_builds_nothing(self):
        build = self.useFixture(fixtures.MockPatchObject(
            bench_run.nova34, 'build')).mock
        self.useFixture(fixtures.EnvironmentVariable(
            'NOVA_CELLS_BENCH_NOVA'))
        self._script('bench_nova', _NOVA_BENCHMARK)
        code, report = self._main('--only', 'nova', '--nova', 'skip')
        self.assertEqual(0, code)
        build.assert_not_called()
        self.assertEqual('skip', report['benchmarks']['bench_nova'][
            'result']['mode'])

    def test_unknown_only_name_is_refused(self):
        error = self.assertRaises(SystemExit, bench_run.main, [
            '--benchmarks-dir', self.benchmarks, '--output-dir',
            self.output, '--only', 'nope'])
        self.assertEqual(2, error.code)
        self.assertFalse(os.path.exists(
            os.path.join(self.output, 'latest.json')))

    def test_a_hung_benchmark_is_killed_at_its_timeout(self):
        pid_file = os.path.join(self.output, 'hang.pid')
        self._script('bench_hang', '''
            import os
            import time
            with open(%r, 'w') as out:
                out.write(str(os.getpid()))
            time.sleep(60)
            ''' % pid_file)
        self.addCleanup(self._end_if_alive, pid_file)
        code, report = self._main('--only', 'hang', '--timeout', '0.5')
        self.assertEqual(1, code)
        outcome = report['benchmarks']['bench_hang']
        self.assertEqual('timed out after 0.5 s', outcome['error'])
        self.assertLess(outcome['seconds'], 10)
        self.assertFalse(self._alive(pid_file), 'still running')

    @staticmethod
    def _alive(pid_file):
        with open(pid_file) as stream:
            pid = int(stream.read())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _end_if_alive(self, pid_file):
        # Only if the code under test left it running: never outlive us.
        if os.path.exists(pid_file) and self._alive(pid_file):
            with open(pid_file) as stream:
                os.kill(int(stream.read()), signal.SIGKILL)


def _test_only_modules() -> set[str]:
    """Top-level modules that only the test requirements install, and
    the package's own tests."""
    path = os.path.join(_REPO_ROOT, 'test-requirements.txt')
    with open(path) as handle:
        names = {line.split('>')[0].split('=')[0].split('<')[0].strip()
                 for line in handle if line.strip() and
                 not line.startswith('#')}
    return {name.lower().replace('-', '_') for name in names} | {
        'nova_cells.tests'}


class TestBenchmarksNeedOnlyThePackage(testtools.TestCase):
    """``make bench`` installs the package and its requirements only: a
    benchmark importing the test fixtures fails there."""

    def test_no_benchmark_imports_test_code(self):
        import ast

        forbidden = _test_only_modules()
        directory = os.path.join(_REPO_ROOT, 'benchmarks')
        offending = []
        for name in sorted(os.listdir(directory)):
            if not name.endswith('.py'):
                continue
            with open(os.path.join(directory, name)) as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                else:
                    continue
                offending += ['%s: %s' % (name, module)
                              for module in modules
                              if any(module == bad or
                                     module.startswith(bad + '.')
                                     for bad in forbidden)]
        self.assertEqual([], offending)
