"""``.ci/run`` prints what helps read a failure, not pages of server
status: its backend probes are silent, whatever the servers say."""

import os
import re
import subprocess

import fixtures
import testtools

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
_SCRIPT = os.path.join(_REPO_ROOT, '.ci', 'run')
_PROBE = re.compile(r'^(\w+_up)\(\) \{.*\}$', re.M)


class TestCIScript(testtools.TestCase):

    def test_backend_probes_print_nothing(self):
        with open(_SCRIPT) as handle:
            script = handle.read()
        probes = _PROBE.findall(script)
        self.assertEqual(['postgres_up', 'mariadb_up', 'rabbit_up'], probes)
        definitions = '\n'.join(match.group(0)
                                for match in _PROBE.finditer(script))
        # Stand-ins for the server tools that talk a lot, as
        # `rabbitmqctl status` does, so the test needs no server.
        bin_directory = self.useFixture(fixtures.TempDir()).path
        for tool in ('pg_isready', 'mysqladmin', 'rabbitmqctl'):
            path = os.path.join(bin_directory, tool)
            with open(path, 'w') as handle:
                handle.write('#!/bin/sh\nfor i in $(seq 185); do '
                             'echo "status line $i"; done\necho oops >&2\n')
            os.chmod(path, 0o755)
        environment = dict(os.environ, PATH=bin_directory + os.pathsep +
                           os.environ.get('PATH', ''))
        for probe in probes:
            result = subprocess.run(
                ['bash', '-c', definitions + '\n' + probe],
                capture_output=True, text=True, env=environment,
                timeout=60)
            self.assertEqual(0, result.returncode, probe)
            self.assertEqual('', result.stdout + result.stderr, probe)
