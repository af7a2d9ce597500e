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
timeouts (``--nova skip`` leaves Nova out instead).

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
from collections.abc import Iterator
from typing import Any

BENCHMARKS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCHMARKS_DIR)
DEFAULT_OUTPUT_DIR = os.path.join(BENCHMARKS_DIR, 'results')
DEFAULT_TIMEOUT = 300.0
BACKEND = ('SQLite files in a temporary directory, unless a benchmark '
           'says otherwise (bench_rpc also uses RabbitMQ on 127.0.0.1 '
           'when reachable)')
VERSIONED_PACKAGES = ('SQLAlchemy', 'oslo.db', 'oslo.messaging',
                      'oslo.versionedobjects', 'oslo.context')
# Keys that describe a benchmark rather than measure it.
_DESCRIPTIVE_KEYS = frozenset({'benchmark', 'workload', 'profile'})
# Containers whose name adds nothing to a figure's name in the table.
_TRANSPARENT_KEYS = frozenset({'figures', 'ratios'})
_UNITS = (('_us', 'µs'), ('_ms', 'ms'), ('_s', 's'))


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

def goals_of(result: dict) -> dict[str, bool]:
    """The pass/fail goals a benchmark reports (its ``goals`` booleans)."""
    goals = result.get('goals')
    if not isinstance(goals, dict):
        return {}
    return {name: value for name, value in goals.items()
            if isinstance(value, bool)}


def build_report(outcomes: dict[str, dict], machine: dict,
                 started_at: str, finished_at: str) -> dict:
    failed = sorted(name for name, outcome in outcomes.items()
                    if outcome['status'] != 'ok')
    missed = sorted('%s.%s' % (name, goal)
                    for name, outcome in outcomes.items()
                    if outcome['status'] == 'ok'
                    for goal, met in goals_of(outcome['result']).items()
                    if not met)
    return {'started_at': started_at, 'finished_at': finished_at,
            'machine': machine, 'benchmarks': outcomes,
            'failed': failed, 'goals_missed': missed}


def _unit(name: str) -> str:
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ''


def _number(value: float) -> str:
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, int):
        return f'{value:,}'
    if abs(value) >= 1000:
        return f'{value:,.0f}'
    if abs(value) >= 100:
        return f'{value:.1f}'
    if abs(value) >= 0.01 or value == 0:
        # Up to three decimals, so 1.004 s is not shown as 1 s.
        return f'{value:.3f}'.rstrip('0').rstrip('.')
    return f'{value:.3g}'


def _with_unit(value: Any, unit: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (_number(value) + ' ' + unit).strip()
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return '—'
    if isinstance(value, (int, float)):
        return _number(value)
    text = str(value).replace('|', '\\|').replace('\n', ' ')
    return text if len(text) <= 100 else text[:97] + '...'


def _timing_row(name: str, figures: dict) -> tuple[str, str, str]:
    """A ``{'median..': x, 'p99..': y}`` dict as one row."""
    median_key = next(k for k in figures if k.startswith('median'))
    p99_key = next((k for k in figures if k.startswith('p99')), None)
    unit = _unit(median_key) or _unit(name)
    return (name, 'median ' + _with_unit(figures[median_key], unit),
            _with_unit(figures[p99_key], _unit(p99_key) or unit)
            if p99_key else '')


def figure_rows(result: dict, prefix: str = '') -> Iterator[tuple]:
    """``(figure, median or value, p99)`` rows of a benchmark's result.

    Timing dicts (a ``median...`` key) become one row; a ``skipped`` dict
    says why; other dicts are walked, their keys joined with dots; the
    ``goals`` come last, as "met"/"MISSED" rows (thresholds as values).
    """
    goals = result.get('goals') if not prefix else None
    for key, value in result.items():
        if not prefix and key in _DESCRIPTIVE_KEYS | {'goals'}:
            continue
        name = prefix if key in _TRANSPARENT_KEYS and not prefix else (
            prefix + '.' + key if prefix else key)
        if isinstance(value, dict) and 'skipped' in value:
            yield (name, 'skipped: ' + _cell(value['skipped']), '')
        elif isinstance(value, dict) and any(
                k.startswith('median') for k in value):
            yield _timing_row(name, value)
        elif isinstance(value, dict):
            yield from figure_rows(value, name)
        elif isinstance(value, (list, tuple)):
            continue
        else:
            yield (name, _with_unit(value, _unit(key)), '')
    if isinstance(goals, dict):
        for goal, met in goals.items():
            shown = ('met' if met else '**MISSED**') if isinstance(
                met, bool) else _cell(met)
            yield ('goal: ' + goal, shown, '')


def _workload_line(result: dict) -> str | None:
    workload = result.get('workload')
    if not isinstance(workload, dict):
        return None
    return 'Workload: ' + ', '.join(
        '%s %s' % (key, ', '.join(map(str, value))
                   if isinstance(value, list) else value)
        for key, value in workload.items()) + '.'


def _goal_summary(outcome: dict) -> str:
    if outcome['status'] != 'ok':
        return '—'
    goals = goals_of(outcome['result'])
    if not goals:
        return 'no goals'
    missed = [name for name, met in goals.items() if not met]
    if not missed:
        return 'all %d met' % len(goals)
    return '%d/%d met; missed: %s' % (len(goals) - len(missed), len(goals),
                                      ', '.join(missed))


def render_markdown(report: dict) -> str:
    machine = report['machine']
    packages = ', '.join('%s %s' % (name, version) for name, version in
                         machine.get('packages', {}).items())
    lines = [
        '# Benchmark results',
        '',
        'Taken %s on %s CPU(s) (%s), %s GiB of memory; Python %s; %s.' % (
            report['finished_at'], machine.get('cpu_count'),
            machine.get('cpu_model') or 'unknown model',
            machine.get('memory_gib'), machine.get('python'), packages),
        'Backend: %s.' % machine.get('backend'),
        '',
        '| benchmark | status | seconds | goals |',
        '|---|---|---|---|',
    ]
    for name, outcome in report['benchmarks'].items():
        status = 'ok' if outcome['status'] == 'ok' else '**FAILED**'
        lines.append('| %s | %s | %s | %s |' % (
            name, status, _cell(outcome.get('seconds')),
            _cell(_goal_summary(outcome))))
    for name, outcome in report['benchmarks'].items():
        lines += ['', '## %s' % name, '']
        if outcome['status'] != 'ok':
            lines.append('**FAILED**: %s' % _cell(outcome.get('error')))
            continue
        workload = _workload_line(outcome['result'])
        if workload:
            lines += [workload, '']
        lines += ['| figure | median / value | p99 |', '|---|---|---|']
        lines += ['| %s | %s | %s |' % row
                  for row in figure_rows(outcome['result'])]
    return '\n'.join(lines) + '\n'


def write_report(report: dict, directory: str) -> tuple[str, str]:
    """Write ``latest.json`` and ``latest.md`` into ``directory``; return
    their paths. Each file is written aside and renamed into place, so a
    reader never sees half a report."""
    os.makedirs(directory, exist_ok=True)
    paths = (os.path.join(directory, 'latest.json'),
             os.path.join(directory, 'latest.md'))
    contents = (json.dumps(report, indent=2, sort_keys=False) + '\n',
                render_markdown(report))
    for path, content in zip(paths, contents, strict=True):
        with open(path + '.tmp', 'w', encoding='utf-8') as stream:
            stream.write(content)
        os.replace(path + '.tmp', path)
    return paths


def _prepare_nova(names: list[str], directory: str, mode: str) -> None:
    """With ``build``, build Nova 34's virtualenv now, outside every
    benchmark's timeout, if a selected benchmark compares with Nova (it
    imports ``nova34``) and it is not built yet; with ``skip``, those
    benchmarks leave Nova out then (see ``nova34.py``)."""
    if mode == 'skip':
        os.environ['NOVA_CELLS_BENCH_NOVA'] = 'skip'   # the children's
        return
    for name in names:
        with open(os.path.join(directory, name + '.py')) as stream:
            if 'import nova34' in stream.read():
                _build_nova()
                return


def _build_nova() -> None:
    import nova34  # benchmarks/ is sys.path[0] for a script

    reason = nova34.environment('build')[1]
    if reason:   # the benchmarks then say so in their JSON
        print(reason, file=sys.stderr)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--only', action='append', metavar='NAME',
                        help='run only this benchmark (bench_x or x); '
                             'may be repeated')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT,
                        help='seconds each benchmark may take '
                             '(default %(default)s)')
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
    _prepare_nova(names, args.benchmarks_dir, args.nova)
    started_at = _now()
    outcomes = {}
    for name in names:
        print('%s ...' % name, end=' ', file=sys.stderr, flush=True)
        outcome = run_benchmark(
            os.path.join(args.benchmarks_dir, name + '.py'), args.timeout)
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
