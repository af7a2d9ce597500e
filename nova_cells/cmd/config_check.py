"""Checks on the configuration ``nova-cells-manage`` was given, run once
after parsing and before any action.

oslo.config reads a file leniently: an option it does not know is ignored,
a value is only converted when first read, and an option left out takes its
default. For an operator each of these hides a mistake until far from where
it was made: ``[api_database] conection`` (a typo) quietly puts every
command on the embedded SQLite database, and a bad ``max_retries`` fails
the action half-way with exit 1. So here, before an action runs:

* every value of every registered option is read, so a bad one is refused
  with its option, section and file (:class:`ConfigurationError`, exit 2),
  never quoting a secret option's value;
* the database URLs are checked the way a cell's are, naming the option
  and the file instead of echoing the library's own text;
* an option this project's sections do not know is named on stderr with
  the closest known name, and falling back to the embedded SQLite
  databases while config files were given is said once.
"""

import difflib
import glob
import os
import re
from collections.abc import Callable

from oslo_config import cfg

from nova_cells import conf as nova_conf
from nova_cells import urls

__all__ = [
    'ConfigurationError',
    'DATABASE_URL_OPTIONS',
    'check',
    'check_database_urls',
    'check_transport_url',
    'check_values',
    'config_files',
    'embedded_fallback',
    'unknown_options',
    'unreadable_files',
]

#: The database URL options checked up front: (group, option).
DATABASE_URL_OPTIONS = (('api_database', 'connection'),
                        ('database', 'connection'))

#: Config-file locations: the operator wrote the value.
_GIVEN = (cfg.Locations.user, cfg.Locations.command_line,
          cfg.Locations.environment)


_SOURCE_IN_MESSAGE = re.compile(r"detail='([^']*)'")


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says where."""


def _where(conf: cfg.ConfigOpts, group: str | None, name: str) -> str:
    try:
        location = conf.get_location(name, group)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return ''
    if location is not None and location.detail:
        return ' in %s' % location.detail
    return ''


def _label(group: str | None, name: str) -> str:
    return '[%s] %s' % (group or 'DEFAULT', name)


def _values(conf: cfg.ConfigOpts):
    """(group name or None, option name) of every registered option."""
    for key in conf:
        value = conf[key]
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for name in value:
                yield key, name
        else:
            yield None, key


def _is_secret(conf: cfg.ConfigOpts, group: str | None, name: str) -> bool:
    try:
        return bool(conf._get_opt_info(name, group)['opt'].secret)
    except Exception:  # a private lookup: when in doubt, it is secret
        return True


def check_values(conf: cfg.ConfigOpts) -> None:
    """Read every option once so a bad value fails here, named.

    :raises ConfigurationError: the option, its section and file; the
        value is quoted only for options that are not secret.
    """
    for group, name in _values(conf):
        try:
            conf[name] if group is None else conf[group][name]
        except (cfg.ConfigFileValueError, ValueError) as error:
            # get_location() would fail the same way: the file is only
            # in oslo.config's message.
            text = str(error)
            source = _SOURCE_IN_MESSAGE.search(text)
            detail = text.rpartition(' is not valid: ')[2]
            reason = 'not a valid value'
            if detail and not _is_secret(conf, group, name):
                reason = detail.splitlines()[0]
            raise ConfigurationError('invalid value for %s%s: %s' % (
                _label(group, name),
                ' in %s' % source.group(1) if source else '',
                reason)) from None
        except cfg.TemplateSubstitutionError as error:
            raise ConfigurationError('cannot expand %s%s: %s' % (
                _label(group, name), _where(conf, group, name),
                str(error).splitlines()[0])) from None


def check_database_urls(conf: cfg.ConfigOpts) -> None:
    """:raises ConfigurationError: a database URL that cannot be used,
    naming the option and the file and never quoting the URL."""
    for group, name in DATABASE_URL_OPTIONS:
        url = getattr(getattr(conf, group), name)
        if not url:
            continue
        problem = urls.database_url_problem(url)
        if problem is not None:
            raise ConfigurationError('%s%s cannot be used: %s' % (
                _label(group, name), _where(conf, group, name), problem))


def check_transport_url(conf: cfg.ConfigOpts) -> None:
    """:raises ConfigurationError: ``[DEFAULT] transport_url`` was written
    in a file (or on the command line) and cannot name a queue; the
    option and the file are named, the URL never quoted. oslo.messaging's
    own default is nobody's: the commands needing a queue refuse it."""
    location = conf.get_location('transport_url')
    if location is None or location.location not in _GIVEN:
        return
    url = conf.transport_url
    problem = (urls.given_transport_url_problem(url) if url
               else 'it is empty')
    if problem is not None:
        raise ConfigurationError('%s%s cannot be used: %s' % (
            _label(None, 'transport_url'), _where(conf, None,
                                                  'transport_url'),
            problem))


def config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The files oslo.config read, in the order it read them."""
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        files.extend(sorted(glob.glob(os.path.join(directory, '*.conf'))))
    return files


def _project_groups() -> dict[str, set[str]]:
    """This project's option groups (not [DEFAULT], which every library
    shares) and the names each knows."""
    groups: dict[str, set[str]] = {}
    for module in nova_conf.OPTION_MODULES:
        for group, opts in module.list_opts().items():
            name = getattr(group, 'name', group)
            if name == 'DEFAULT':
                continue
            names = groups.setdefault(name, set())
            for opt in opts:
                names.add(opt.dest)
                names.update(d.name for d in opt.deprecated_opts
                             if d.name and d.group in (None, name))
    return groups


def unknown_options(conf: cfg.ConfigOpts) -> list[str]:
    """One line per option a config file sets in one of this project's
    sections that no option of that section has, closest name included."""
    known = _project_groups()
    lines = []
    for path in config_files(conf):
        sections: dict = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except Exception:  # oslo.config itself reported it already
            continue
        for section, options in sections.items():
            names = known.get(section)
            if names is None:
                continue
            for option in options:
                if option in names:
                    continue
                close = difflib.get_close_matches(option, sorted(names), 1)
                hint = '; did you mean %s?' % close[0] if close else ''
                lines.append('%s: unknown option %s%s' % (
                    path, _label(section, option), hint))
    return lines


def embedded_fallback(conf: cfg.ConfigOpts) -> str | None:
    """A line saying which databases fell back to the embedded SQLite
    default although config files were given, or None.

    Silent without config files (the embedded default is the point
    then) and when a config file chose ``state_path``, which only
    matters for the embedded databases.
    """
    if not config_files(conf):
        return None
    state = conf.get_location('state_path')
    if state is not None and state.location in _GIVEN:
        return None
    defaulted = [_label(group, name) for group, name in DATABASE_URL_OPTIONS
                 if conf.get_location(name, group).location not in _GIVEN]
    if not defaulted:
        return None
    return ('%s not set in %s: using the embedded SQLite database(s) '
            'under %s' % (' and '.join(defaulted),
                          ', '.join(config_files(conf)), conf.state_path))


def check(conf: cfg.ConfigOpts, warn: Callable[[str], None]) -> None:
    """The checks after :func:`check_values` (which runs before logging
    is set up): refuse what cannot work, ``warn`` about what may be a
    mistake.

    :raises ConfigurationError: one line naming what is wrong and where.
    """
    check_database_urls(conf)
    check_transport_url(conf)
    for line in unknown_options(conf):
        warn(line)
    fallback = embedded_fallback(conf)
    if fallback is not None:
        warn(fallback)


def unreadable_files(argv: list[str]) -> list[str]:
    """The config files named in ``argv`` (or found by default) that are
    not UTF-8 text; oslo.config fails on them with a bare decoding error
    that names no file."""
    candidates = []
    for index, argument in enumerate(argv):
        if argument in ('--config-file', '--config-dir') and (
                index + 1 < len(argv)):
            candidates.append(argv[index + 1])
        elif argument.startswith(('--config-file=', '--config-dir=')):
            candidates.append(argument.partition('=')[2])
    candidates.extend(cfg.find_config_files(project='nova_cells'))
    found = []
    for candidate in candidates:
        paths = (sorted(glob.glob(os.path.join(candidate, '*.conf')))
                 if os.path.isdir(candidate) else [candidate])
        for path in paths:
            try:
                with open(path, 'rb') as handle:
                    handle.read().decode('utf-8')
            except UnicodeDecodeError:
                found.append(path)
            except OSError:
                continue
    return found
