"""The single initialization entry point for services, tools and library
users: parse configuration, set up logging, point the connection registry
at the configured databases and message queue."""

from collections.abc import Callable

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import connections
from nova_cells import rpc
from nova_cells.conf import CONF

__all__ = [
    'LoggingSetupError',
    'parse_args',
]

_LOGGING_REGISTERED = False


class LoggingSetupError(Exception):
    """Logging cannot be set up as configured (a log file that cannot be
    written, a bad ``--log-config-append``); the message says which."""


def _register_logging_options() -> None:
    global _LOGGING_REGISTERED
    if not _LOGGING_REGISTERED:
        # A host service (a Nova fork) may have registered oslo.log's
        # options and parsed its command line already; registering them
        # again would be refused once the arguments are parsed.
        if 'log_config_append' not in CONF:
            logging.register_options(CONF)
        _LOGGING_REGISTERED = True


def parse_args(argv: list[str], default_config_files: list[str] | None = None,
               configure_logging: bool = True,
               version: str | None = None,
               check: Callable[[cfg.ConfigOpts], None] | None = None
               ) -> None:
    """Parse ``argv`` (``argv[0]`` is the program) into ``CONF`` and set up.

    ``default_config_files=None`` lets oslo.config look in its usual places
    (``/etc/nova_cells/nova_cells.conf`` and friends); with no file at all
    every database defaults to SQLite under ``state_path``. ``version``
    adds a ``--version`` option printing it. ``check`` is called with
    ``CONF`` right after parsing, before anything reads an option.

    :raises LoggingSetupError: logging cannot be set up as configured.
    """
    _register_logging_options()
    CONF(argv[1:], project='nova_cells',
         default_config_files=default_config_files, version=version)
    if check is not None:
        check(CONF)
    if configure_logging:
        _setup_logging()
    connections.get_registry().configure(CONF)
    # Remembers CONF only: no transport is made until a message is sent.
    rpc.init(CONF)


def _setup_logging() -> None:
    try:
        logging.setup(CONF, 'nova_cells')
    except OSError as error:
        raise LoggingSetupError('cannot write the log file %s: %s' % (
            error.filename or CONF.log_file,
            error.strerror or type(error).__name__)) from None
    except logging.LogConfigError as error:
        raise LoggingSetupError(str(error).splitlines()[0]) from None
