"""Run every benchmark and write one report (JSON and a Markdown table).

Each ``benchmarks/bench_*.py`` runs as its own process
(``python benchmarks/bench_X.py``, whose standard output is its JSON), so
one benchmark's engines, pools and threads cannot skew the next, and a
benchmark that hangs is killed at its timeout. The report goes to
``benchmarks/results/latest.json`` (every figure, plus the machine and
versions they were taken on) and ``benchmarks/results/latest.md`` (the
headline figures, the README's table).

A benchmark that fails (non-zero exit, no JSON, timeout) is reported as
failed in both files, with the first line of its error, and this script
then exits 1. A goal a benchmark reports as missed is listed in the
summary but is not a failure.

Benchmarks that compare with Nova 34 run it from its own virtualenv;
when that is not built yet, it is built first, outside the benchmarks'
timeouts (``--nova skip`` leaves Nova out instead): see
``nova34.prepare``. The Markdown is rendered by ``report_markdown.py``;
this script runs the benchmarks and writes both files.

Usage::

    .venv/bin/python benchmarks/run.py [--only NAME ...] [--timeout S]
        [--nova {build,skip}]
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import time

try:
    from benchmarks import nova34
    from benchmarks import report_markdown
except ImportError:  # a script, or loaded by path: its siblings by directory
    _HERE = os.path.dirname(os.path.abspath(__file__))
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    import nova34
    import report_markdown

BENCHMARKS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCHMARKS_DIR)
DEFAULT_OUTPUT_DIR = os.path.join(BENCHMARKS_DIR, 'results')
DEFAULT_TIMEOUT = 300.0
# Benchmarks that need longer than the default: bench_scale's connection
# budget part alone reads 1,000 SQLite and 200 PostgreSQL cells with and
# without a budget (about 4.5 minutes on a loaded 2-core machine).
TIMEOUTS = {'bench_scale': 900.0}
BACKEND = ('SQLite files in a temporary directory, unless a benchmark '
           'says otherwise (bench_rpc also uses RabbitMQ on 127.0.0.1 '
           'when reachable)')
VERSIONED_PACKAGES = ('SQLAlchemy', 'oslo.db', 'oslo.messaging',
                      'oslo.versionedobjects', 'oslo.context')


# -- discovery and running -----------------------------------------------

def discover(directory: str = BENCHMARKS_DIR) -> list[str]:
    """Names (``bench_x``) of the benchmark modules in ``directory``."""
    return sorted(name[:-3] for name in os.listdir(directory)
                  if name.startswith('bench_') and name.endswith('.py'))


def select(names: list[str], only: list[str] | None) -> list[str]:
    """``names`` restricted to ``only`` (``bench_x`` or ``x``).

    :raises ValueError: ``only`` names a benchmark that does not exist.
    """
    if not only:
        return names
    wanted = [name if name.startswith('bench_') else 'bench_' + name
              for name in only]
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError('unknown benchmark(s): %s (have: %s)' % (
            ', '.join(unknown), ', '.join(names)))
    return [name for name in names if name in wanted]


def parse_output(stdout: str) -> dict | None:
    """The JSON object a benchmark printed, or None.

    Normally stdout is exactly that object; should a library print a line
    of its own first, the object is taken from the first line that opens
    one and decodes.
    """
    try:
        value = json.loads(stdout)
    except ValueError:
        value = None
        decoder = json.JSONDecoder()
        offset = 0
        for line in stdout.splitlines(keepends=True):
            if line.startswith('{'):
                try:
                    value, _end = decoder.raw_decode(stdout, offset)
                    break
                except ValueError:
                    pass
            offset += len(line)
    return value if isinstance(value, dict) else None


def first_error_line(stderr: str) -> str:
    """The line that says what went wrong: a traceback's exception line
    (the first unindented line after its frames), else the last line."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return '(no error output)'
    starts = [index for index, line in enumerate(lines)
              if line.startswith('Traceback (most recent call last)')]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if not line.startswith((' ', '\t')):
                return line
    return lines[-1]


def run_benchmark(path: str, timeout: float) -> dict:
    """Run one benchmark script in its own process and collect its JSON.

    Returns ``{'status': 'ok', 'seconds', 'result'}`` or ``{'status':
    'failed', 'seconds', 'error'}``.
    """
    started = time.monotonic()
    # A session of its own, so a timeout kills whatever it started too.
    process = subprocess.Popen(
        [sys.executable, path], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {'status': 'failed',
                'seconds': round(time.monotonic() - started, 1),
                'error': 'timed out after %g s' % timeout}
    seconds = round(time.monotonic() - started, 1)
    if process.returncode != 0:
        return {'status': 'failed', 'seconds': seconds,
                'error': 'exit code %d: %s' % (process.returncode,
                                               first_error_line(stderr))}
    result = parse_output(stdout)
    if result is None:
        head = stdout.strip().splitlines()[:1] or ['(empty)']
        return {'status': 'failed', 'seconds': seconds,
                'error': 'no JSON object on stdout: %s' % head[0][:200]}
    return {'status': 'ok', 'seconds': seconds, 'result': result}


# -- machine facts ---------------------------------------------------------

def _proc_value(path: str, field: str) -> str | None:
    try:
        with open(path) as stream:
            for line in stream:
                name, _, value = line.partition(':')
                if name.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT, capture_output=True,
            text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def machine_facts() -> dict:
    """Where and with what the figures were taken."""
    memory = _proc_value('/proc/meminfo', 'MemTotal')
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        'cpu_count': os.cpu_count(),
        'cpu_model': _proc_value('/proc/cpuinfo', 'model name'),
        'memory_gib': round(int(memory.split()[0]) / 2 ** 20, 1)
        if memory else None,
        'platform': platform.platform(),
        'python': platform.python_version(),
        'packages': versions,
        'backend': BACKEND,
        'git_commit': _git_commit(),
    }


# -- the report ------------------------------------------------------------

def build_report(outcomes: dict[str, dict], machine: dict,
                 started_at: str, finished_at: str) -> dict:
    failed = sorted(name for name, outcome in outcomes.items()
                    if outcome['status'] != 'ok')
    missed = sorted('%s.%s' % (name, goal)
                    for name, outcome in outcomes.items()
                    if outcome['status'] == 'ok'
                    for goal, met in report_markdown.goals_of(
                        outcome['result']).items()
                    if not met)
    return {'started_at': started_at, 'finished_at': finished_at,
            'machine': machine, 'benchmarks': outcomes,
            'failed': failed, 'goals_missed': missed}



def write_report(report: dict, directory: str) -> tuple[str, str]:
    """Write ``latest.json`` and ``latest.md`` into ``directory``; return
    their paths. Each file is written aside and renamed into place, so a
    reader never sees half a report."""
    os.makedirs(directory, exist_ok=True)
    paths = (os.path.join(directory, 'latest.json'),
             os.path.join(directory, 'latest.md'))
    contents = (json.dumps(report, indent=2, sort_keys=False) + '\n',
                report_markdown.render_markdown(report))
    for path, content in zip(paths, contents, strict=True):
        with open(path + '.tmp', 'w', encoding='utf-8') as stream:
            stream.write(content)
        os.replace(path + '.tmp', path)
    return paths


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', action='append', metavar='NAME',
                        help='run only this benchmark (bench_x or x); '
                             'may be repeated')
    parser.add_argument('--timeout', type=float, default=None,
                        help='seconds each benchmark may take (default '
                             '%g, bench_scale %g)' % (
                                 DEFAULT_TIMEOUT, TIMEOUTS['bench_scale']))
    parser.add_argument('--output-dir', default=DEFAULT_OUTPUT_DIR,
                        help='where latest.json and latest.md go')
    parser.add_argument('--nova', choices=('build', 'skip'),
                        default='build',
                        help="Nova 34's virtualenv, when not built yet: "
                             'build it before the benchmarks run (a few '
                             'minutes, once) or leave Nova out')
    parser.add_argument('--benchmarks-dir', default=BENCHMARKS_DIR,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        names = select(discover(args.benchmarks_dir), args.only)
    except ValueError as error:
        parser.error(str(error))
    nova34.prepare([os.path.join(args.benchmarks_dir, name + '.py')
                    for name in names], args.nova)
    started_at = _now()
    outcomes = {}
    for name in names:
        print('%s ...' % name, end=' ', file=sys.stderr, flush=True)
        timeout = args.timeout or TIMEOUTS.get(name, DEFAULT_TIMEOUT)
        outcome = run_benchmark(
            os.path.join(args.benchmarks_dir, name + '.py'), timeout)
        outcomes[name] = outcome
        print('%s (%s s)%s' % (
            outcome['status'], outcome['seconds'],
            ': ' + outcome['error'] if 'error' in outcome else ''),
            file=sys.stderr, flush=True)
    report = build_report(outcomes, machine_facts(), started_at, _now())
    json_path, md_path = write_report(report, args.output_dir)
    print('wrote %s and %s' % (json_path, md_path), file=sys.stderr)
    if report['goals_missed']:
        print('goals missed: %s' % ', '.join(report['goals_missed']),
              file=sys.stderr)
    if report['failed']:
        print('FAILED: %s' % ', '.join(report['failed']), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
