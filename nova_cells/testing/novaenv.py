"""Nova 34 in a virtualenv of its own, for the tests and the benchmarks
that run real Nova.

nova_cells and Nova both register versioned objects in the ``nova``
namespace, so they never share a process: Nova runs here, in a separate
virtualenv, and each check talks to it through a subprocess (``nova-manage``
or a script run by Nova's interpreter, reading JSON on stdin and printing
JSON). The tests' scripts live in ``tests/functional/with_nova/nova_side``,
the benchmarks' in ``benchmarks/``.

The virtualenv is built once and kept under
``~/.cache/nova_cells/nova-venv-<hash>`` (``$NOVA_CELLS_CACHE`` overrides
the root), where the hash covers the pinned requirements and the Python
version: changing either builds a new one, an unchanged one is reused.
Building takes about two minutes from PyPI; a file lock keeps concurrent
test runs from building the same one twice, and a half-built one (no
``.complete`` marker) is removed and built again.

What to do when it cannot be built is the caller's: the tests' fixture
(``tests/fixtures/novaenv.py``) skips, or fails in CI; a benchmark reports
the reason in its JSON. Only the standard library here, as everywhere in
:mod:`nova_cells.testing`.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys

__all__ = [
    'BUILD_TIMEOUT',
    'COMMAND_TIMEOUT',
    'NovaEnvironment',
    'NovaEnvironmentError',
    'REQUIREMENTS',
    'cache_root',
    'ensure_venv',
    'is_built',
    'venv_path',
]

#: What is installed next to Nova: its release, and the database drivers
#: the tests' URLs name.
REQUIREMENTS = ('nova==34.0.0', 'PyMySQL', 'psycopg2-binary')
BUILD_TIMEOUT = 20 * 60
#: The longest one Nova command may take (a cell database on MySQL).
COMMAND_TIMEOUT = 300
_COMPLETE = '.complete'


class NovaEnvironmentError(Exception):
    """Nova's virtualenv cannot be built."""


def cache_root() -> str:
    return os.environ.get('NOVA_CELLS_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'nova_cells')


def venv_path() -> str:
    """Where the virtualenv for :data:`REQUIREMENTS` lives."""
    key = hashlib.sha256(json.dumps(
        [list(REQUIREMENTS), list(sys.version_info[:2])]).encode()
    ).hexdigest()[:16]
    return os.path.join(cache_root(), 'nova-venv-' + key)


def _run_build(command: list[str], log) -> None:
    log.write('$ %s\n' % ' '.join(command))
    log.flush()
    result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                            timeout=BUILD_TIMEOUT, check=False)
    if result.returncode:
        raise NovaEnvironmentError('%s exited %d' % (
            ' '.join(command[:4]), result.returncode))


def _build(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
    log_path = path + '.log'
    with open(log_path, 'w') as log:
        try:
            _run_build([sys.executable, '-m', 'venv', path], log)
            _run_build([os.path.join(path, 'bin', 'python'), '-m', 'pip',
                        'install', '--quiet', *REQUIREMENTS], log)
        except (NovaEnvironmentError, OSError,
                subprocess.TimeoutExpired) as error:
            raise NovaEnvironmentError('%s (log: %s): %s' % (
                error, log_path, _tail(log_path))) from None
    with open(os.path.join(path, _COMPLETE), 'w') as marker:
        marker.write('\n'.join(REQUIREMENTS) + '\n')


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path) as log:
            return ' | '.join(line.strip() for line in
                              log.readlines()[-lines:])
    except OSError:
        return ''


def is_built() -> bool:
    """Whether a complete virtualenv is already there (nothing to build)."""
    return os.path.exists(os.path.join(venv_path(), _COMPLETE))


def ensure_venv() -> str:
    """The path of a complete Nova virtualenv, built if need be.

    :raises NovaEnvironmentError: it cannot be built (the reason and the
        end of pip's log in the message).
    """
    path = venv_path()
    if os.path.exists(os.path.join(path, _COMPLETE)):
        return path
    os.makedirs(cache_root(), exist_ok=True)
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it
        if not os.path.exists(os.path.join(path, _COMPLETE)):
            _build(path)
    return path


class NovaEnvironment:
    """Runs Nova's commands and scripts in the Nova virtualenv."""

    def __init__(self, path: str):
        self.path = path

    def _env(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(('PYTHON', 'VIRTUAL_ENV'))}
        env['PATH'] = os.path.join(self.path, 'bin') + ':' + env.get(
            'PATH', '')
        return env

    def run(self, command: list[str], stdin: str | None = None
            ) -> subprocess.CompletedProcess:
        """Run a command of the virtualenv's ``bin``; never raises on a
        non-zero exit (the caller asserts on it)."""
        executable = os.path.join(self.path, 'bin', command[0])
        return subprocess.run(
            [executable, *command[1:]], input=stdin, capture_output=True,
            text=True, env=self._env(), timeout=COMMAND_TIMEOUT,
            check=False)

    def manage(self, config_file: str, *arguments: str
               ) -> subprocess.CompletedProcess:
        """``nova-manage --config-file CONFIG ARGUMENTS...``."""
        return self.run(['nova-manage', '--config-file', config_file,
                         *arguments])

    def start(self, path: str, arguments: list[str], stderr
              ) -> subprocess.Popen:
        """Start the Python script at ``path`` with Nova's interpreter, its
        stdin and stdout pipes of text lines (for scripts that converse),
        its stderr to the file ``stderr``. The caller waits for it."""
        return subprocess.Popen(
            [os.path.join(self.path, 'bin', 'python'), path, *arguments],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True, bufsize=1, env=self._env())

    def script(self, path: str, arguments: list[str], payload=None,
               timeout: float = COMMAND_TIMEOUT):
        """Run the Python script at ``path`` with Nova's interpreter and
        ``arguments``; it reads ``payload`` as JSON on stdin and prints
        JSON on its last line of stdout, which is returned.

        :raises NovaEnvironmentError: the script failed (the end of its
            stderr attached) or printed no JSON.
        """
        result = subprocess.run(
            [os.path.join(self.path, 'bin', 'python'), path, *arguments],
            input=json.dumps(payload), capture_output=True, text=True,
            env=self._env(), timeout=timeout, check=False)
        lines = result.stdout.strip().splitlines()
        if result.returncode or not lines:
            raise NovaEnvironmentError('%s exited %d:\n%s' % (
                os.path.basename(path), result.returncode,
                result.stderr[-3000:]))
        return json.loads(lines[-1])
