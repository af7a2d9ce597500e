"""The small framework every ``nova-cells-manage`` category is built on.

A category is a :class:`Category` value: a name, a help line and its
:class:`Action` s. An action is a plain function taking keyword arguments
and returning an exit code (``None`` means success); its command-line
arguments are :func:`argument` values whose ``name`` is the keyword the
function receives, and its exit codes are :func:`exit_code` values. For
example::

    def sync(version=None):
        migration.db_sync(version, database='api')

    CATEGORY = common.Category('api_db', 'The API database schema.', [
        common.Action('sync', sync, 'Upgrade the schema.', [
            common.argument('version', nargs='?', metavar='VERSION')], [
            common.exit_code(0, 'upgraded'),
            common.exit_code(1, 'unknown VERSION',
                             exception.InvalidRevision)]),
    ])

An action's exit codes are declared there and nowhere else: each says its
number, what it means to the operator and which exceptions lead to it.
The ``--help`` text (:attr:`Action.help`), the dispatch
(:meth:`Action.exit_code_for`, used by the one catch-all in
:mod:`nova_cells.cmd.manage`) and the documentation check
(``tests/unit/test_docs.py`` against ``doc/source/operator/commands.rst``)
all read them. Actions raise on failure; an exception no declaration
names exits :data:`EXIT_FAILURE`. An action that fails without an
exception (a check that found problems) returns a declared code.

Exit codes (Nova's): :data:`EXIT_SUCCESS` 0, :data:`EXIT_FAILURE` 1,
:data:`EXIT_USAGE` 2 for a command line or configuration that cannot be
used (argparse's own code for usage errors).
"""

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from nova_cells import urls
from nova_cells.cmd import preflight

__all__ = [
    'ACTION_ATTRIBUTE',
    'Action',
    'ActionParser',
    'Argument',
    'Category',
    'EXIT_FAILURE',
    'EXIT_SUCCESS',
    'EXIT_USAGE',
    'ExitCode',
    'action_and_arguments',
    'argument',
    'error_line',
    'exit_code',
    'exit_code_table',
    'handler_and_arguments',
    'non_empty',
    'print_error',
    'print_warning',
    'printable',
    'table',
]

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# Parsed arguments share oslo.config's namespace with its own options
# (config_file, debug, ...): a prefix keeps action arguments apart.
_DEST_PREFIX = 'action_argument_'
ACTION_ATTRIBUTE = 'action_declaration'


# argparse actions that take no value, hence need no metavar.
_FLAG_ACTIONS = ('store_true', 'store_false', 'count', 'help', 'version')


class ActionParser(argparse.ArgumentParser):
    """An action's parser: an argument it does not know is reported with
    the action's own usage line, not the top-level one argparse would
    print (the sub-parser otherwise hands unknown arguments back up)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error('unrecognized arguments: %s' % ' '.join(extras))
        return namespace, extras


@dataclasses.dataclass(frozen=True)
class Argument:
    """One argument of an action; ``name`` is the handler's keyword."""

    name: str
    flags: tuple[str, ...]
    options: dict[str, Any]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        dest = _DEST_PREFIX + self.name
        if self.flags:
            options = dict(self.options)
            if options.get('action') not in _FLAG_ACTIONS:
                # Help shows VALUE names, not the internal destination.
                options.setdefault('metavar', self.name.upper())
            parser.add_argument(*self.flags, dest=dest, **options)
        else:
            options = dict(self.options)
            options.setdefault('metavar', self.name.upper())
            parser.add_argument(dest, **options)


def argument(name: str, *flags: str, **options: Any) -> Argument:
    """A positional argument (no ``flags``) or an option (``'--force'``)."""
    return Argument(name, flags, options)


@dataclasses.dataclass(frozen=True)
class ExitCode:
    """One exit code of an action: its number, what it means, and the
    exceptions (subclasses included) that end the action with it; none
    for a code the action returns itself."""

    code: int
    meaning: str
    raised_by: tuple[type[BaseException], ...] = ()


def exit_code(code: int, meaning: str,
              *raised_by: type[BaseException]) -> ExitCode:
    return ExitCode(code, meaning, raised_by)


@dataclasses.dataclass(frozen=True)
class Action:
    """An action: ``summary`` is its help without the exit codes."""

    name: str
    handler: Callable[..., int | None]
    summary: str
    arguments: Sequence[Argument] = ()
    exit_codes: Sequence[ExitCode] = ()
    #: What the action needs of the API database: None (nothing),
    #: :data:`preflight.READS` or :data:`preflight.WRITES`; checked before
    #: it runs (:func:`preflight.check_api_database`).
    api_database: str | None = None

    def check_preconditions(self) -> None:
        """:raises preflight.APIDatabaseNotReady: see there."""
        if self.api_database is not None:
            preflight.check_api_database(self.api_database)

    @property
    def help(self) -> str:
        """The summary and every declared exit code, for ``--help``."""
        if not self.exit_codes:
            return self.summary
        return '%s Exit %s.' % (self.summary, '; '.join(
            '%d %s' % (declared.code, declared.meaning)
            for declared in self.exit_codes))

    def exit_code_for(self, error: BaseException) -> int:
        """The declared code of the most specific class of ``error`` that
        a declaration names; :data:`EXIT_FAILURE` when none does."""
        for kind in type(error).__mro__:
            for declared in self.exit_codes:
                if kind in declared.raised_by:
                    return declared.code
        return EXIT_FAILURE


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    help: str
    actions: Sequence[Action]

    def register(self, subparsers) -> None:
        """Add this category and its actions to ``subparsers``."""
        parser = subparsers.add_parser(self.name, help=self.help,
                                       description=self.help)
        action_parsers = parser.add_subparsers(
            title='actions', dest='action', metavar='ACTION',
            parser_class=ActionParser)
        action_parsers.required = True
        for action in self.actions:
            action_parser = action_parsers.add_parser(
                action.name, help=action.help, description=action.help)
            for action_argument in action.arguments:
                action_argument.add_to(action_parser)
            action_parser.set_defaults(**{ACTION_ATTRIBUTE: action})


def action_and_arguments(parsed) -> tuple[Action, dict[str, Any]]:
    """The chosen action and its handler's keyword arguments.

    ``parsed`` is anything exposing the parsed attributes, such as
    oslo.config's ``CONF.category``.
    """
    action = getattr(parsed, ACTION_ATTRIBUTE)
    return action, {argument.name: getattr(parsed,
                                           _DEST_PREFIX + argument.name)
                    for argument in action.arguments}


def handler_and_arguments(parsed) -> tuple[Callable, dict[str, Any]]:
    """The chosen action's function and its keyword arguments."""
    action, arguments = action_and_arguments(parsed)
    return action.handler, arguments


def exit_code_table(category: Category) -> str:
    """Every action's exit codes as a reST table, for a module docstring
    (the declarations stay the only source)."""
    width = max(len(action.name) for action in category.actions)
    border = '=' * width + '  ' + '=' * 50
    rows = [border]
    for action in category.actions:
        for index, declared in enumerate(action.exit_codes):
            name = action.name if index == 0 else ''
            rows.append('%s  %d %s' % (name.ljust(width), declared.code,
                                       declared.meaning))
    rows.append(border)
    return '\n'.join(rows) + '\n'


def print_error(message: str) -> None:
    print('ERROR: %s' % message, file=sys.stderr)


def print_warning(message: str) -> None:
    print('WARNING: %s' % message, file=sys.stderr)


# How SQLite, MySQL and PostgreSQL say a table is missing.
_MISSING_TABLE = re.compile(
    r"no such table: (\w+)|Table '(?:\w+\.)?(\w+)' doesn't exist|"
    r'relation "(\w+)" does not exist')
# The table a refusal names: MySQL quotes `db`.`table`, PostgreSQL says
# "for table name".
_TABLE_NAMED = re.compile(r'for table (?:`\w+`\.)?`(\w+)`|'
                          r'for (?:table|relation) (\w+)')
_API_TABLES = frozenset({'cell_mappings', 'host_mappings',
                         'instance_mappings', 'map_instances_markers'})


# How SQLite, MySQL/MariaDB and PostgreSQL refuse what this connection may
# not do: a read-only file, a user without the privilege, a server or
# transaction in read-only mode.
_WRITE_REFUSED = re.compile(
    r'attempt to write a readonly database|'
    r'\b(?:INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|INDEX|LOCK TABLES) '
    r'command denied to user|'
    r'permission denied for (?:table|relation|sequence|schema|database)|'
    r'read-only transaction|--read-only option')


def _write_refused_hint(text: str) -> str:
    """What a refusal for lack of rights means to an operator, or ''.

    The driver names a table and a privilege; the cause to act on is that
    the database, or the user configured for it, is read-only, which
    serves the commands that only read but not this one.
    """
    if _WRITE_REFUSED.search(text) is None:
        return ''
    match = _TABLE_NAMED.search(text)
    table_name = next(name for name in match.groups() if name) if match \
        else None
    which = ('the API database' if table_name in _API_TABLES
             else 'the database')
    said = '' if 'permission denied' in text else 'permission denied: '
    return ('; %s%s is read-only or its configured user lacks a privilege '
            'this command needs (read-only access serves list_cells, '
            'list_hosts, verify_instance and api_db version, not commands '
            'that write)' % (said, which))


def _schema_hint(text: str) -> str:
    """What to run when ``text`` says a table is missing, or ''."""
    match = _MISSING_TABLE.search(text)
    if match is None:
        return ''
    table_name = next(name for name in match.groups() if name)
    if table_name in _API_TABLES:
        return ('; the API database has no schema: run nova-cells-manage '
                'api_db sync')
    return ('; a main database has no schema: run nova-cells-manage db '
            'sync (db sync --all-cells for every cell)')


def error_line(error: BaseException) -> str:
    """One line telling an operator what failed, every password masked,
    with the command to run when a database has no schema."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = lines[0].strip() if lines else type(error).__name__
    return (printable(urls.mask_text(text)) + _schema_hint(text) +
            _write_refused_hint(text))


def non_empty(text: str) -> str:
    """argparse ``type`` of an option whose empty value would otherwise
    read as "not given" (``--cell_uuid ''`` meaning every cell)."""
    if not text.strip():
        raise argparse.ArgumentTypeError('must not be empty')
    return text


def printable(text: str) -> str:
    """``text`` with every character that is not printable (a newline, a
    terminal escape) escaped, so stored text can neither forge output
    lines nor drive the operator's terminal."""
    if text.isprintable():
        return text
    return ''.join(char if char.isprintable() else
                   char.encode('unicode_escape').decode('ascii')
                   for char in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table in the layout of Nova's (prettytable) output;
    stored text is shown :func:`printable`."""
    cells = [[printable(str(value)) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[index]) for row in cells])
              for index, header in enumerate(headers)]
    border = '+' + '+'.join('-' * (width + 2) for width in widths) + '+'

    def line(values: Sequence[str]) -> str:
        return '| ' + ' | '.join(value.ljust(width) for value, width in
                                 zip(values, widths, strict=True)) + ' |'
    return '\n'.join([border, line(headers), border] +
                     [line(row) for row in cells] + [border])
