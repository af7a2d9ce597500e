"""Every command of the developer guide's "Integrating into a Nova fork"
page, run in order against Nova 34 and this project, as the page says.

Console lines (``$ ...``) run as written, ``/etc/nova/nova.conf`` replaced
by a configuration on SQLite files; ``nova-manage`` comes from Nova's
virtualenv, ``nova-cells-manage`` from this one. Python blocks that import
Nova run under Nova's interpreter with this source tree importable (as in
a fork); the others under this project's.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

from nova_cells.db import migration
from nova_cells.tests.fixtures import nova as nova_fixture

REPO = pathlib.Path(__file__).resolve().parents[4]
PAGE = REPO / 'doc' / 'source' / 'developer' / 'nova-fork.rst'
CONFIG = '/etc/nova/nova.conf'
_BLOCK = re.compile(r'^\.\. code-block:: (console|python)\n\n'
                    r'((?:(?:    .*)?\n)+)', re.MULTILINE)


def page_steps() -> list[tuple[str, str]]:
    """``(kind, text)`` of each console command and python block, in
    page order."""
    steps = []
    text = PAGE.read_text(encoding='utf-8')
    for match in _BLOCK.finditer(text):
        body = '\n'.join(line[4:] for line in
                         match.group(2).splitlines()).strip() + '\n'
        if match.group(1) == 'python':
            steps.append(('python', body))
            continue
        steps.extend(('console', line[2:].strip())
                     for line in body.splitlines() if line.startswith('$ '))
    return steps


def _our_script(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


class TestForkGuide(nova_fixture.NovaTestCase):

    def _run(self, kind: str, text: str) -> subprocess.CompletedProcess:
        text = text.replace(CONFIG, self.nova_conf)
        if kind == 'python' and 'from nova import' in text:
            env = dict(self.nova._env(), PYTHONPATH=str(REPO))
            return subprocess.run(
                [os.path.join(self.nova.path, 'bin', 'python'), '-c', text],
                capture_output=True, text=True, env=env, check=False,
                timeout=300)
        if kind == 'python':
            return subprocess.run([sys.executable, '-c', text],
                                  capture_output=True, text=True,
                                  check=False, timeout=300)
        command = shlex.split(text)
        if command[0] == 'nova-manage':
            return self.nova.run(command)
        self.assertEqual('nova-cells-manage', command[0], text)
        return subprocess.run([_our_script(command[0]), *command[1:]],
                              capture_output=True, text=True, check=False,
                              timeout=300)

    def test_every_command_runs(self):
        steps = page_steps()
        self.assertEqual(2, sum(kind == 'python' for kind, _ in steps))
        self.assertGreaterEqual(len(steps), 10)
        outputs = {}
        for kind, text in steps:
            result = self._run(kind, text)
            self.assertEqual(0, result.returncode, '%s\n%s\n%s' % (
                text, result.stdout, result.stderr[-3000:]))
            outputs[text] = result.stdout
        version = [output for text, output in outputs.items()
                   if text.endswith('api_db version')]
        self.assertIn(migration.head(migration.API), version[0])
        cells = [output for text, output in outputs.items()
                 if text.endswith('list_cells')]
        self.assertIn('cell0', cells[0])
