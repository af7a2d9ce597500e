"""The README runs as written: every block it marks runnable
(``<!-- runnable -->`` on the line before the fence) is extracted and
run, Python with this interpreter and shell with bash, each in a fresh
state directory, as a new user would paste them."""

import os
import re
import subprocess
import sys

import fixtures
import testtools

README = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                      'README.md')
MARKER = '<!-- runnable -->'
_BLOCK = re.compile(re.escape(MARKER) + r'\n```(\w+)\n(.*?)^```',
                    re.S | re.M)
RUNNERS = {'python': [sys.executable, '-c'], 'sh': ['bash', '-euo',
                                                     'pipefail', '-c']}


def runnable_blocks() -> list[tuple[str, str]]:
    with open(README) as handle:
        text = handle.read()
    return [(match.group(1), match.group(2))
            for match in _BLOCK.finditer(text)]


class TestReadme(testtools.TestCase):

    def test_marked_blocks_are_found(self):
        blocks = runnable_blocks()
        with open(README) as handle:
            self.assertEqual(handle.read().count(MARKER), len(blocks))
        kinds = [kind for kind, _code in blocks]
        self.assertIn('python', kinds)
        self.assertIn('sh', kinds)
        for kind in kinds:
            self.assertIn(kind, RUNNERS)

    def run_block(self, kind: str, code: str) -> None:
        directory = self.useFixture(fixtures.TempDir()).path
        environment = dict(
            os.environ, HOME=directory, TMPDIR=directory,
            NOVA_CELLS_STATE_PATH=os.path.join(directory, 'state'),
            PATH=os.path.dirname(sys.executable) + os.pathsep +
            os.environ.get('PATH', ''))
        result = subprocess.run(RUNNERS[kind] + [code], cwd=directory,
                                capture_output=True, text=True,
                                env=environment, timeout=300)
        self.assertEqual(0, result.returncode, '%s block:\n%s\nstdout:\n%s'
                         '\nstderr:\n%s' % (kind, code, result.stdout,
                                            result.stderr))
        return result

    def test_every_runnable_block_runs(self):
        for kind, code in runnable_blocks():
            self.run_block(kind, code)

    def test_library_example_runs_twice(self):
        """Run again (as after ``make demo`` or a first run) it reuses
        what is there."""
        code = next(code for kind, code in runnable_blocks()
                    if kind == 'python')
        directory = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable(
            'NOVA_CELLS_STATE_PATH', os.path.join(directory, 'state')))
        for _attempt in range(2):
            result = subprocess.run([sys.executable, '-c', code],
                                    capture_output=True, text=True,
                                    env=dict(os.environ, HOME=directory),
                                    timeout=300)
            self.assertEqual(0, result.returncode, result.stderr)
            self.assertIn('vm1 is in cell cell1', result.stdout)
