"""Nova 34's show path measured in the same run as ours (helper, not a
benchmark of its own).

Nova runs in its own virtualenv and its own process
(:mod:`nova_cells.testing.novaenv`; ``nova34_show.py`` is what it runs),
never in this one: both projects register objects in the ``nova``
namespace.

Each side reads its own schema, with the same rows: Nova's databases are
its own (new ones, beside ours), made from Nova's models by
``nova34_show.py`` (Nova's tests keep its models and migrations equal; its
migration history would cost more time than the run has), and hold the
same cells, instance uuids and mappings as ours; Nova shows the same
instances in the same order. Ours stay on our schema, so every other
figure of the benchmark is unchanged. Nova's instance rows carry an info
cache row each, as every instance Nova boots does.

Nova's virtualenv is built on first use (a few minutes from PyPI, a note
on stderr, cached under ``~/.cache/nova_cells``); ``--nova skip`` (or
``NOVA_CELLS_BENCH_NOVA=skip``) leaves Nova out when it is not built yet,
and the JSON then says why instead of giving Nova's figure.
"""

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

from nova_cells.testing import novaenv

try:
    from benchmarks import server_databases
    from benchmarks import timing
except ImportError:  # run as a script: its own directory is on sys.path
    import server_databases
    import timing

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'nova34_show.py')
#: ``build`` (the default) or ``skip``: what to do when Nova's virtualenv
#: is not built yet.
ENVIRONMENT_VARIABLE = 'NOVA_CELLS_BENCH_NOVA'
CHOICES = ('build', 'skip')
#: Nova's side of the show path takes 10-20 ms a call: 400 calls give a
#: steady median and keep the run short.
DEFAULT_ITERATIONS = 400
#: Uuids each function of Nova's shows untimed first.
WARMUP = 100
#: Uuids per block: Nova's block of its functions takes a second or two.
BLOCK = 50
#: How long Nova's side may take to answer (building a deployment's
#: databases included).
ANSWER_TIMEOUT = 240
PREFIX = 'NOVA34 '


def default_mode() -> str:
    mode = os.environ.get(ENVIRONMENT_VARIABLE, 'build')
    return mode if mode in CHOICES else 'build'


def add_argument(parser) -> None:
    """The benchmarks' ``--nova {build,skip}`` option."""
    parser.add_argument(
        '--nova', choices=CHOICES, default=default_mode(),
        help="when Nova 34's virtualenv is not built yet: build it (a few "
             'minutes, once) or leave Nova out (default: $%s, else '
             'build)' % ENVIRONMENT_VARIABLE)


def environment(mode: str) -> tuple:
    """``(NovaEnvironment, None)``, or ``(None, why not)``."""
    if not novaenv.is_built():
        if mode == 'skip':
            return None, ("Nova 34's virtualenv is not built (%s) and "
                          '--nova skip was given' % novaenv.venv_path())
        print("Building Nova 34's virtualenv at %s (first run only, a few "
              'minutes; --nova skip leaves Nova out)...' %
              novaenv.venv_path(), file=sys.stderr, flush=True)
    try:
        return novaenv.NovaEnvironment(novaenv.ensure_venv()), None
    except novaenv.NovaEnvironmentError as error:
        return None, "Nova 34's virtualenv cannot be built: %s" % error


def prepare(paths: list[str], mode: str) -> None:
    """For ``run.py``, before any benchmark starts: with ``build``, build
    Nova 34's virtualenv now, outside every benchmark's timeout, if one of
    the benchmark scripts at ``paths`` compares with Nova (it imports
    ``nova34``) and it is not built yet; with ``skip``, those benchmarks
    (run as children, which inherit the environment) leave Nova out
    then."""
    if mode == 'skip':
        os.environ[ENVIRONMENT_VARIABLE] = 'skip'   # the children's
        return
    for path in paths:
        with open(path) as stream:
            if 'import nova34' in stream.read():
                build()
                return


def build() -> None:
    """Build Nova's virtualenv if it is not built; a failure is printed
    (the benchmarks then say so in their JSON), never raised."""
    reason = environment('build')[1]
    if reason:
        print(reason, file=sys.stderr)


def _databases(kind: str, directory: str, names: list[str]):
    """New empty databases for Nova: SQLite files in a directory of their
    own under ``directory``, or throwaway databases on the server."""
    if kind != 'sqlite':
        return server_databases.databases(kind, names)
    own = tempfile.mkdtemp(prefix='nova34_', dir=directory)
    return contextlib.nullcontext({
        name: 'sqlite:///' + os.path.join(own, name + '.sqlite')
        for name in names})


class Remote:
    """Nova's side of a run: ``nova34_show.py`` in Nova's process, ready;
    :meth:`block` has it time its functions over a block of uuids."""

    def __init__(self, process, stderr):
        self._process = process
        self._stderr = stderr
        self._lines = queue.Queue()
        self._ready = None
        # A reader thread, so a silent Nova is waited for with a timeout.
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def ready(self) -> dict:
        """Nova's first answer (its version, how long it took to start),
        waited for on first use: the caller may work meanwhile."""
        if self._ready is None:
            self._ready = self._read()
        return self._ready

    def _pump(self) -> None:
        for line in self._process.stdout:
            if line.startswith(PREFIX):
                self._lines.put(line[len(PREFIX):])
        self._lines.put(None)

    def _read(self) -> dict:
        try:
            line = self._lines.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            line = None
            why = 'did not answer in %d s' % ANSWER_TIMEOUT
        else:
            why = 'exited'
        if line is None:
            self._stderr.seek(0)
            raise novaenv.NovaEnvironmentError("Nova's side %s:\n%s" % (
                why, self._stderr.read()[-3000:]))
        return json.loads(line)

    def block(self, uuids: list[str]) -> dict:
        """``{function: [microseconds...]}`` for ``uuids``."""
        self.ready   # noqa: B018 (answers come in order)
        with contextlib.suppress(OSError):   # exited: _read says so
            self._process.stdin.write(json.dumps({'block': uuids}) + '\n')
        return self._read()


@contextlib.contextmanager
def remote(nova, kind: str, directory: str, cells: list[dict],
           warmup: list[str], extra_mappings: int = 0,
           functions: tuple = ()):
    """Yield Nova's side, starting, on new databases of ``kind`` holding
    ``cells`` (each ``{uuid, name, instances}``) and ``extra_mappings``
    mappings without instance rows; ``functions`` picks among
    ``nova34_show.py``'s timings (all of them when empty).

    :raises novaenv.NovaEnvironmentError: Nova's side failed.
    """
    names = ['api'] + ['cell%d' % index for index in range(len(cells))]
    with _databases(kind, directory, names) as urls, \
            tempfile.TemporaryDirectory(prefix='nova34_conf_') as own, \
            tempfile.TemporaryFile('w+') as stderr:
        conf = os.path.join(own, 'nova.conf')
        with open(conf, 'w') as stream:
            # Nothing connects to the transport; [database] is never read
            # (every read is targeted at a cell).
            stream.write('[DEFAULT]\ntransport_url = fake://\n'
                         '[api_database]\nconnection = %s\n'
                         '[database]\nconnection = %s\n' % (
                             urls['api'], urls['cell0']))
        process = nova.start(SCRIPT, [conf], stderr)
        try:
            process.stdin.write(json.dumps({
                'api_url': urls['api'], 'warmup': warmup,
                'cells': [dict(cell, url=urls['cell%d' % index])
                          for index, cell in enumerate(cells)],
                'extra_mappings': extra_mappings,
                'functions': list(functions)}) + '\n')
            yield Remote(process, stderr)
        finally:
            with contextlib.suppress(OSError):
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def summary(samples: list[float]) -> dict:
    """Median and p99 (microseconds, one decimal) and the count."""
    return dict(timing.summary(samples, 'us', 1), iterations=len(samples))


def interleaved(ours: dict, side: Remote, shown: list[str],
                iterations: int = DEFAULT_ITERATIONS) -> dict:
    """Ours and Nova's in alternating blocks of :data:`BLOCK` uuids of
    ``shown``, so both see the same load: ``ours`` maps a name to
    ``(prepare, function)``, ``prepare(block)`` run untimed first (to set
    a cache up, say). Returns ``{'ours': {name: figures}, 'nova34':
    {function: figures}}``."""
    mine = {name: [] for name in ours}
    theirs = {}
    clock = time.perf_counter_ns
    for start in range(0, iterations, BLOCK):
        block = [shown[index % len(shown)]
                 for index in range(start, min(iterations, start + BLOCK))]
        for name, (prepare, function) in ours.items():
            prepare(block)
            for uuid in block:
                began = clock()
                function(uuid)
                mine[name].append((clock() - began) / 1000.0)
        for name, samples in side.block(block).items():
            theirs.setdefault(name, []).extend(samples)
    return {'ours': {name: summary(values) for name, values in mine.items()},
            'nova34': {name: summary(values)
                       for name, values in theirs.items()}}


def versus(nova, kind: str, directory: str, cells: list[dict],
           shown: list[str], ours: dict, headline: str, goal: float,
           iterations: int = DEFAULT_ITERATIONS,
           functions: tuple = ()) -> dict:
    """Nova's side started on ``cells`` (see :func:`remote`), then
    :func:`versus_with` it."""
    try:
        with remote(nova, kind, directory, cells, shown[:WARMUP],
                    functions=functions) as side:
            return versus_with(side, shown, ours, headline, goal,
                               iterations)
    except novaenv.NovaEnvironmentError as error:
        return {'failed': str(error)[-2000:]}


def versus_with(side: Remote, shown: list[str], ours: dict, headline: str,
                goal: float, iterations: int = DEFAULT_ITERATIONS) -> dict:
    """``ours`` and Nova's show path timed in alternating blocks over
    ``shown`` (see :func:`interleaved`), and ours named ``headline``
    against Nova's, with the goal; ``{'failed': why}`` when Nova's side
    failed."""
    started = time.monotonic()
    try:
        figures = interleaved(ours, side, shown, iterations)
    except novaenv.NovaEnvironmentError as error:
        return {'failed': str(error)[-2000:]}
    return dict(comparison(figures, headline, goal, side.ready),
                seconds=round(time.monotonic() - started, 1))


def comparison(figures: dict, ours: str, goal: float, nova: dict) -> dict:
    """``figures`` (from :func:`interleaved`): ours (the name ``ours``)
    against Nova's show path, with the goal. Nova's figure is its DB-API
    variant, the leaner of its two (so the smaller speed-up)."""
    ours_us = figures['ours'][ours]['median_us']
    nova_us = figures['nova34']['show_db_api']['median_us']
    return {
        'ours_median_us': ours_us,
        'nova34_median_us': nova_us,
        'times_faster': round(nova_us / ours_us, 1),
        'goal_times_faster_at_least': goal,
        'goal_met': nova_us / ours_us >= goal,
        'figures': figures,
        'nova34': nova,
    }
