"""The benchmark report as Markdown (helper of ``run.py``, not a
benchmark): a summary table of every benchmark, then one table of figures
per benchmark, the table the top-level README shows.

Apart from ``run.py`` because it is presentation only: it reads the
report dict ``run.build_report`` makes and never runs anything, so the
way figures are named, united and shown can change without touching how
benchmarks are run and timed out.
"""

from collections.abc import Iterator
from typing import Any

# Keys that describe a benchmark rather than measure it.
_DESCRIPTIVE_KEYS = frozenset({'benchmark', 'workload', 'profile'})
# Containers whose name adds nothing to a figure's name in the table.
_TRANSPARENT_KEYS = frozenset({'figures', 'ratios'})
_UNITS = (('_us', 'µs'), ('_ms', 'ms'), ('_s', 's'))


def goals_of(result: dict) -> dict[str, bool]:
    """The pass/fail goals a benchmark reports (its ``goals`` booleans)."""
    goals = result.get('goals')
    if not isinstance(goals, dict):
        return {}
    return {name: value for name, value in goals.items()
            if isinstance(value, bool)}



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

