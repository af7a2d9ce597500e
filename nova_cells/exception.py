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
:func:`nova_cells.urls.mask_url` before handing them to an exception.
"""

__all__ = [
    'Cell0DeletionRefused',
    'Cell0StateChange',
    'CellDatabaseInUse',
    'CellDatabaseMismatch',
    'CellDeleted',
    'CellHasHosts',
    'CellHasInstanceMappings',
    'CellHasInstances',
    'CellHasNoMessageQueue',
    'CellMappingExists',
    'CellMappingInUse',
    'CellMappingNotFound',
    'CellNotTargetable',
    'CellQueueInUse',
    'CellURLTemplateError',
    'CellUnavailable',
    'ComputeHostNotFound',
    'Conflict',
    'ConnectionBudgetExhausted',
    'DatabaseMigrationError',
    'DatabaseUnreachable',
    'DowngradeNotSupported',
    'HostHasInstances',
    'HostMappingExists',
    'HostMappingNotFound',
    'HostNotInCell',
    'InstanceExists',
    'InstanceMappingExists',
    'InstanceMappingNotFound',
    'InstanceNotFound',
    'InstanceNotMappedToCell',
    'Invalid',
    'InvalidCellName',
    'InvalidCellState',
    'InvalidCellURL',
    'InvalidDatabaseName',
    'InvalidDatabaseURL',
    'InvalidMaxCount',
    'InvalidReadDeleted',
    'InvalidRevision',
    'InvalidSortDirection',
    'InvalidSortKey',
    'MarkerCellUnavailable',
    'MarkerNotFound',
    'MissingCellURL',
    'NotFound',
    'NovaCellsException',
    'ObjectActionError',
    'RPCNotInitialized',
    'SQLiteDirectoryMissing',
    'SQLiteNestedWrite',
    'UntargetedContext',
]


class NovaCellsException(Exception):
    """Base class; subclasses set ``msg_fmt``.

    ``code`` is an HTTP status, as Nova's exceptions carry one for its
    REST API; nothing here reads it. The console scripts' exit codes are
    declared with each action (:mod:`nova_cells.cmd.common`).
    """

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


class UntargetedContext(Invalid):
    msg_fmt = ('%(function)s was called with a context that is not '
               'targeted at a cell, and [cells] require_targeted_context '
               'is on: target the context first (nova_cells.context.'
               'target_cell), or turn the option off to use the local '
               '[database] connection.')


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


class CellNotTargetable(Invalid):
    msg_fmt = 'Cell %(cell)s cannot be targeted: %(reason)s'


class CellHasNoMessageQueue(CellNotTargetable):
    msg_fmt = ('Cell %(cell)s has no message queue (transport_url none:); '
               'RPC through a context targeted at it is refused rather '
               'than sent to the default bus.')


class RPCNotInitialized(NovaCellsException):
    msg_fmt = ('nova_cells.rpc is not initialized: call '
               'nova_cells.rpc.init(conf) first '
               '(nova_cells.config.parse_args does).')


class MarkerCellUnavailable(NovaCellsException):
    msg_fmt = ('Marker %(marker)s is in no cell that answered; it may be in '
               'one that failed or did not respond (%(cells)s). Try again.')
    code = 503


class ConnectionBudgetExhausted(NovaCellsException):
    """Every connection the process may hold to cell databases is in use
    and none came free within the pool timeout."""

    msg_fmt = ('Every one of the %(limit)d connections this process may '
               'hold to cell databases ([cell_database] '
               'max_total_connections) is in use, and none came free '
               'within %(timeout)s s, so the call into cell %(cell)s gave '
               'up. Raise [cell_database] max_total_connections (0 means no '
               'cap) or pool_timeout, or run fewer calls at once.')
    code = 503


class CellUnavailable(NovaCellsException):
    """A cell's database or message queue cannot be used right now: it
    refused, timed out, or this process marked it down after repeated
    failures (then it is refused without touching the network)."""

    msg_fmt = 'Cell %(cell)s is unavailable: %(reason)s'
    code = 503


class DatabaseUnreachable(NovaCellsException):
    msg_fmt = 'Cannot connect to the %(database)s database %(url)s: %(reason)s'


class DowngradeNotSupported(Invalid):
    msg_fmt = ('The %(database)s database is at revision %(current)s, newer '
               'than %(requested)s; downgrades are not supported.')


# -- mapping objects (nova_cells.objects) ----------------------------------

class CellMappingNotFound(NotFound):
    msg_fmt = 'Cell %(uuid)s has no mapping.'


class CellDeleted(NotFound):
    msg_fmt = ('Cell %(cell)s has been deleted; nothing is routed to it '
               'any more.')


class CellMappingExists(Conflict):
    msg_fmt = 'A cell mapping with uuid %(uuid)s already exists.'


class CellMappingInUse(Conflict):
    msg_fmt = ('Cell %(uuid)s still has host or instance mappings; delete '
               'or move them before deleting the cell.')


class InstanceMappingNotFound(NotFound):
    msg_fmt = 'Instance %(uuid)s has no mapping to a cell.'


class InstanceMappingExists(Conflict):
    msg_fmt = 'Instance %(uuid)s already has a mapping.'


class InstanceNotMappedToCell(NotFound):
    msg_fmt = ('Instance %(uuid)s is not mapped to a cell yet (it is still '
               'being scheduled, or its build failed), so there is no cell '
               'to target.')


class HostMappingNotFound(NotFound):
    msg_fmt = 'Host %(name)s is not mapped to any cell.'


class HostMappingExists(Conflict):
    msg_fmt = 'Host %(name)s is already mapped to a cell.'


class ObjectActionError(Invalid):
    msg_fmt = 'Cannot %(action)s: %(reason)s'


class CellURLTemplateError(Invalid):
    msg_fmt = ('The %(field)s of cell %(cell)s is a template that cannot be '
               'filled here: %(reason)s')


class InvalidDatabaseURL(Invalid):
    msg_fmt = ('The %(database)s database URL %(url)s cannot be used: '
               '%(reason)s')


# -- operator commands (nova_cells.cells_admin) ----------------------------

class MissingCellURL(Invalid):
    msg_fmt = ('No %(kind)s URL given: pass %(option)s or set %(config)s in '
               'the configuration file.')


class CellDatabaseInUse(Conflict):
    msg_fmt = ('Cell %(other)s already uses the database %(url)s; a '
               'database can hold only one cell.')


class CellQueueInUse(Conflict):
    msg_fmt = ('Cell %(other)s already uses the message queue %(url)s (the '
               'same broker and virtual host); two cells on one queue '
               'receive each other\'s messages.')


class InvalidCellState(Invalid):
    msg_fmt = 'Cannot update the cell: %(reason)s.'


class Cell0StateChange(Invalid):
    msg_fmt = ('cell0 cannot be disabled or enabled: it only holds '
               'instances that failed to be scheduled.')


class Cell0DeletionRefused(Invalid):
    msg_fmt = ('Refusing to delete cell0, which holds the instances that '
               'failed to be scheduled; use --force-cell0 to delete it.')


class CellHasHosts(Conflict):
    msg_fmt = ('Cell %(cell)s still has %(count)d mapped host(s); delete '
               'them first or use --force.')


class CellHasInstances(Conflict):
    msg_fmt = ('Cell %(cell)s still has %(count)d instance(s) that are not '
               'deleted; it cannot be deleted, even with --force.')


class CellHasInstanceMappings(Conflict):
    msg_fmt = ('Cell %(cell)s has %(count)d instance mapping(s) left by '
               'deleted instances; archive deleted rows or use --force.')


class HostNotInCell(NotFound):
    msg_fmt = 'Host %(host)s is not mapped to cell %(cell)s.'


class HostHasInstances(Conflict):
    msg_fmt = 'Host %(host)s still has %(count)d instance(s).'


class InvalidMaxCount(Invalid):
    msg_fmt = '%(option)s must be a positive number, not %(value)s.'


class SQLiteDirectoryMissing(NotFound):
    msg_fmt = ('the directory %(directory)s does not exist; create it '
               'first if this SQLite path is the one you meant')


class InvalidCellName(Invalid):
    msg_fmt = 'Invalid cell name: %(reason)s.'


class CellDatabaseMismatch(Conflict):
    msg_fmt = ('%(missing)d of the %(mapped)d instance(s) mapped to cell '
               '%(cell)s are not in its database at all, not even deleted: '
               'is its database URL the right one? Nothing was deleted.')


class SQLiteNestedWrite(Invalid):
    msg_fmt = ('A second write to the SQLite database %(path)s started '
               'while this thread holds a write transaction on it through '
               'another connection (a targeted write nested in a write on '
               'the same cell): SQLite allows one writer at a time, so it '
               'would wait for itself. Write through the outer context, or '
               'commit the outer transaction first.')
