"""Exceptions raised by nova_cells.

One base, :class:`NovaCellsException`, fills a class-level ``msg_fmt`` from
keyword arguments. Three branches say what kind of failure it is::

    NovaCellsException
    |-- NotFound                     something named does not exist
    |   |-- CellMappingNotFound, InstanceMappingNotFound,
    |   |   HostMappingNotFound, InstanceNotFound, MarkerNotFound, ...
    |-- Invalid                      the caller's input cannot be used
    |   |-- InvalidDatabaseName, InvalidRevision, InvalidCellURL, ...
    |-- Conflict                     it would contradict what is stored
    |   |-- HostMappingExists, CellMappingExists, ...
    |-- DatabaseMigrationError       a schema this project will not touch

Messages never carry a password: callers pass URLs through
:func:`nova_cells.masking.mask_url` before handing them to an exception.
"""


class NovaCellsException(Exception):
    """Base class; subclasses set ``msg_fmt`` and an exit ``code``."""

    msg_fmt = 'An unknown exception occurred.'
    code = 500

    def __init__(self, message: str | None = None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError) as missing:
                # A programming error in the caller; say which argument is
                # missing rather than hiding the original message.
                message = '%s (message arguments incomplete: %s)' % (
                    self.msg_fmt, missing)
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


class NotFound(NovaCellsException):
    msg_fmt = 'Resource could not be found.'
    code = 404


class Invalid(NovaCellsException):
    msg_fmt = 'Unacceptable parameters.'
    code = 400


class Conflict(NovaCellsException):
    msg_fmt = 'Conflict with the current state.'
    code = 409


class DatabaseMigrationError(NovaCellsException):
    msg_fmt = 'Database migration failed: %(reason)s'


class InvalidDatabaseName(Invalid):
    msg_fmt = ("Unknown database %(database)r: choose 'api' or 'main'.")


class InvalidRevision(Invalid):
    msg_fmt = ('Unknown %(database)s database revision %(revision)r; '
               'known revisions: %(known)s.')


class InvalidCellURL(Invalid):
    msg_fmt = ('Cell %(cell)s has an invalid %(kind)s URL %(url)s: '
               '%(reason)s')


class InvalidSortKey(Invalid):
    msg_fmt = 'Cannot sort instances by %(key)r; sortable keys: %(known)s.'


class InvalidSortDirection(Invalid):
    msg_fmt = "Sort direction %(direction)r is neither 'asc' nor 'desc'."


class InvalidReadDeleted(Invalid):
    msg_fmt = ("read_deleted must be 'no', 'yes' or 'only', "
               'not %(value)r.')


class InstanceNotFound(NotFound):
    msg_fmt = 'Instance %(instance_id)s could not be found.'


class InstanceExists(Conflict):
    msg_fmt = 'Instance %(uuid)s already exists.'


class MarkerNotFound(NotFound):
    msg_fmt = 'Marker %(marker)s could not be found.'


class ComputeHostNotFound(NotFound):
    msg_fmt = 'Compute host %(host)s could not be found.'


class ComputeNodeNotFound(NotFound):
    msg_fmt = 'Compute node %(node)s could not be found.'


class ServiceNotFound(NotFound):
    msg_fmt = 'Service %(service_id)s could not be found.'


class CellNotTargetable(Invalid):
    msg_fmt = 'Cell %(cell)s cannot be targeted: %(reason)s'
