"""``nova-cells-manage``: the operator's command line.

``nova-cells-manage [--config-file F] [--debug] CATEGORY ACTION [ARGS]``

Categories live one per module (``api_db.py``, ``db.py``, ...), each
exposing a ``CATEGORY`` built with :mod:`nova_cells.cmd.common`. To add one,
write ``nova_cells/cmd/<name>.py`` with its ``CATEGORY`` and add it to
:data:`CATEGORIES` below; nothing else changes.

Every failure prints one line to stderr (``ERROR: ...``, passwords masked)
and exits non-zero; ``--debug`` adds the traceback. :func:`main` is the one
place that catches an action's exception; the code it exits with is the one
the action declares for it (:meth:`nova_cells.cmd.common.Action.
exit_code_for`), else 1. Exit codes common to every action are listed in
:mod:`nova_cells.cmd.common`.
"""

import sys
import traceback
from importlib import metadata

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import config
from nova_cells.cmd import api_db
from nova_cells.cmd import cell_v2
from nova_cells.cmd import common
from nova_cells.cmd import config_check
from nova_cells.cmd import db
from nova_cells.conf import CONF

__all__ = [
    'CATEGORIES',
    'QUIET_LOGGERS',
    'main',
]

CATEGORIES = (
    api_db.CATEGORY,
    db.CATEGORY,
    cell_v2.CATEGORY,
)


def _add_categories(subparsers) -> None:
    for category in CATEGORIES:
        category.register(subparsers)


_CATEGORY_OPT = cfg.SubCommandOpt(
    'category', title='Command categories', help='Available categories',
    handler=_add_categories)


def _version() -> str:
    try:
        return metadata.version('nova_cells')
    except metadata.PackageNotFoundError:  # run from a bare source tree
        return 'unknown'


#: Loggers whose records only repeat, as a traceback, the error the
#: command already reports on its one ``ERROR:`` line (``--debug`` prints
#: the traceback): oslo.db logs every database error it wraps.
QUIET_LOGGERS = ('oslo_db.sqlalchemy.exc_filters=CRITICAL',)


def _parse_configuration(argv: list[str]) -> None:
    """Parse and check the command line and config files.

    :raises cfg.Error, OSError, UnicodeDecodeError,
        config.LoggingSetupError, config_check.ConfigurationError.
    """
    logging.set_defaults(default_log_levels=(
        logging.get_default_log_levels() + list(QUIET_LOGGERS)))
    config.parse_args(argv, version=_version(),
                      check=config_check.check_values)
    config_check.check(CONF, common.print_warning)


def _debug_requested() -> bool:
    try:
        return bool(CONF.debug)
    except cfg.NoSuchOptError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run one action; returns the process exit code."""
    argv = sys.argv if argv is None else argv
    # The command line of an earlier call (a test, say) would stop the
    # sub-command option from registering; overrides are kept.
    CONF.clear()
    CONF.register_cli_opt(_CATEGORY_OPT)
    try:
        _parse_configuration(argv)
    except cfg.ConfigFilesNotFoundError as error:
        common.print_error('cannot read configuration file(s): %s' %
                     ', '.join(error.config_files))
        return common.EXIT_USAGE
    except cfg.Error as error:
        common.print_error('invalid configuration: %s' %
                           common.error_line(error))
        return common.EXIT_USAGE
    except UnicodeDecodeError:
        common.print_error('cannot read configuration: %s: not UTF-8 text' % (
            ', '.join(config_check.unreadable_files(argv)) or
            'a config file'))
        return common.EXIT_USAGE
    except (config.LoggingSetupError,
            config_check.ConfigurationError) as error:
        common.print_error(common.error_line(error))
        return common.EXIT_USAGE
    except OSError as error:  # e.g. --config-file naming a directory
        common.print_error('cannot read configuration: %s: %s' % (
            error.filename or '', error.strerror or type(error).__name__))
        return common.EXIT_USAGE

    action, arguments = common.action_and_arguments(CONF.category)
    try:
        action.check_preconditions()
        result = action.handler(**arguments)
    except Exception as error:
        if _debug_requested():
            traceback.print_exc()
        common.print_error(common.error_line(error))
        return action.exit_code_for(error)
    return common.EXIT_SUCCESS if result is None else result
