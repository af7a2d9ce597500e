"""One compiled-statement cache for every SQLite engine of the process.

SQLAlchemy keeps a statement's compiled form per engine, keyed by the
engine's own dialect instance. Every cell gets an engine of its own, so a
process that has used a thousand cells compiled, and keeps, each statement
a thousand times: about 30 KB per cell engine for the instance read alone
(its compiled SQL, result metadata, column map), a third of what a whole
SQLite cell engine costs, and more with every other statement run there.

Every SQLite engine here is built the same way (same driver, same SQLite
library, same oslo.db options), so their dialects compile a statement
identically: :func:`share` gives an engine a view of one process-wide
cache in which a dialect is known by its *profile* (its class, the
driver module and every setting it holds, taken once it is initialised)
rather than by its identity. Two dialects that differ in any setting get
entries of their own, so sharing never hands an engine SQL compiled for
different settings; a setting that is an object (a JSON serialiser, say)
is compared by identity, so an unknown difference never shares.

Only SQLite: a MySQL or PostgreSQL dialect learns its server's version and
modes when it first connects, and cells' servers may differ.
"""

import threading

from sqlalchemy import util as sa_util

__all__ = [
    'CACHE_SIZE',
    'share',
]

#: Statements kept for all SQLite engines together (SQLAlchemy keeps 500
#: per engine by default).
CACHE_SIZE = 2000

_CACHE = sa_util.LRUCache(CACHE_SIZE)
_PLAIN = (str, int, float, bool, type(None))
_profiles_lock = threading.Lock()


def _plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_plain(item) for item in value)
    return isinstance(value, _PLAIN)


# Objects each dialect instance holds its own copy of, built from its
# class and plain settings alone (so the profile already covers them).
_BUILT_FROM_SETTINGS = frozenset({
    'dbapi', 'loaded_dbapi', 'dispatch', 'identifier_preparer',
    'type_compiler', 'type_compiler_instance', '_type_memos'})


def _setting(name: str, value) -> tuple:
    if _plain(value):
        return (name, value)
    # Anything else set on the dialect (a JSON serialiser, a swapped
    # compiler class) may change what is compiled and is known only by
    # identity: two dialects share entries only if it is the same object.
    # The id cannot be reused while an entry lives: the entry's compiled
    # statement keeps the first dialect, and so the object, alive.
    return (name, ('object', id(value)))


def _profile(dialect) -> tuple:
    """What a dialect compiles with: its class, the driver module and
    every setting it holds, plain ones by value, any other object but
    those :data:`_BUILT_FROM_SETTINGS` by identity (fail closed)."""
    settings = tuple(sorted(
        _setting(name, value) for name, value in vars(dialect).items()
        if name not in _BUILT_FROM_SETTINGS))
    return (type(dialect), id(dialect.loaded_dbapi), settings)


class _SharedView:
    """The shared cache as one engine sees it (the mapping interface
    SQLAlchemy uses: ``get``, item assignment, ``len``, ``clear``)."""

    __slots__ = ('_profile',)

    def __init__(self) -> None:
        self._profile = None

    def _key(self, key: tuple) -> tuple:
        profile = self._profile
        if profile is None:
            # First statement: the engine has connected by now, so its
            # dialect is initialised (server version, isolation level).
            with _profiles_lock:
                profile = self._profile = _profile(key[0])
        return (profile,) + key[1:]

    def get(self, key: tuple, default=None):
        return _CACHE.get(self._key(key), default)

    def __getitem__(self, key: tuple):
        return _CACHE[self._key(key)]

    def __setitem__(self, key: tuple, value) -> None:
        _CACHE[self._key(key)] = value

    def __len__(self) -> int:
        return len(_CACHE)

    def clear(self) -> None:
        _CACHE.clear()


def share(engine) -> None:
    """Make ``engine`` (SQLite) use the process-wide compiled cache."""
    if engine.dialect.name != 'sqlite' or engine._compiled_cache is None:
        return
    engine._compiled_cache = _SharedView()
