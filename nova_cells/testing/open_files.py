"""Files this process holds open, counted from ``/proc/self/fd`` (Linux).

For the connection budget's promise that an evicted SQLite cell keeps no
file open: its test and ``bench_scale``'s memory figures count the same
way, here. Standard library only, like the rest of
:mod:`nova_cells.testing`.
"""

import os

__all__ = [
    'count_open',
]


def count_open(prefixes: tuple[str, ...]) -> int:
    """How many of this process's file descriptors point at a path
    starting with one of ``prefixes`` (so a SQLite file's ``-wal`` and
    ``-shm`` count with it)."""
    count = 0
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue  # closed since the listing
        count += target.startswith(prefixes)
    return count
