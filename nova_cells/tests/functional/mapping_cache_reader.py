"""The reading process of the two-process mapping cache test.

Run as ``python -m nova_cells.tests.functional.mapping_cache_reader
API_URL LOCAL_URL INTERVAL``. Eight threads read instances without pause
through :func:`~nova_cells.objects.instance_mapping.get_instance` (the
show path, cache on). Commands arrive on stdin, one JSON object a line;
each answer is one JSON line on stdout:

``{"cmd": "watch", "url": U}``
    From now on, any statement run on the database at ``U`` is an error
    (the writer is about to delete that cell). Answer ``{"ok": true}``.
``{"cmd": "verify", "hosts": {uuid: host}, "cells": {uuid: {...}},
"gone": [uuid]}``
    Sent once the check interval has passed since the writer's change.
    Every read that *starts* after this line arrived must show the new
    state: each instance on its new host, each cell's fields as given,
    each gone cell not found (and refused to targeting). Answers once
    every thread has read every instance again:
    ``{"violations": [...], "errors": [...]}``; ``errors`` are the reads
    that failed at any time since the last verify (an instance reported
    missing, a statement on a watched database).
``{"cmd": "stop"}``
    Stop the threads and answer with the cache's stats.
"""

import json
import sys
import threading

import sqlalchemy as sa

THREADS = 8


class Reader:

    def __init__(self, uuids: list[str]) -> None:
        from nova_cells import context

        self.uuids = uuids
        self.context = context.get_admin_context()
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.expected: dict | None = None
        self.passes = [0] * THREADS
        self.violations: list[str] = []
        self.watched: set[str] = set()
        sa.event.listen(sa.engine.Engine, 'before_cursor_execute',
                        self._statement)

    def _statement(self, connection, *_args) -> None:
        database = connection.engine.url.database
        if database in self.watched:
            with self.lock:
                self.errors.append('statement on deleted cell database %s'
                                   % database)

    def _read(self, uuid: str, expected: dict | None) -> None:
        from nova_cells.objects import instance_mapping

        try:
            host = instance_mapping.get_instance(self.context, uuid).host
        except Exception as error:
            with self.lock:
                self.errors.append('%s: %r' % (uuid, error))
            return
        if expected is not None and expected['hosts'].get(uuid,
                                                          host) != host:
            self._violation(expected, '%s on %s, expected %s' % (
                uuid, host, expected['hosts'][uuid]))

    def _violation(self, expected: dict, text: str) -> None:
        """Record ``text`` unless ``expected`` is an earlier verify's: a
        pass begun then may run on past the next change."""
        with self.lock:
            if expected is self.expected:
                self.violations.append(text)

    def _check_cells(self, expected: dict) -> None:
        from nova_cells import exception
        from nova_cells import objects

        for uuid, fields in expected['cells'].items():
            cell = objects.CellMapping.get_by_uuid(self.context, uuid)
            for name, value in fields.items():
                if getattr(cell, name) != value:
                    self._violation(expected, 'cell %s %s=%r, expected %r'
                                    % (uuid, name, getattr(cell, name),
                                       value))
        for uuid in expected['gone']:
            try:
                objects.CellMapping.get_by_uuid(self.context, uuid)
            except exception.CellMappingNotFound:
                continue
            self._violation(expected, 'deleted cell %s still found' % uuid)

    def work(self, index: int) -> None:
        while not self.stopping.is_set():
            expected = self.expected    # the state reads from now must show
            if expected is not None and index == 0:
                self._check_cells(expected)
            for uuid in self.uuids:
                self._read(uuid, expected)
            with self.lock:
                self.passes[index] += 1

    def verify(self, expected: dict) -> dict:
        with self.lock:
            self.violations = []
            start = list(self.passes)
            self.expected = expected
        # Two passes: the one running when the line arrived may have
        # started before it; the next one started after.
        while True:
            with self.lock:
                if all(now >= then + 2
                       for now, then in zip(self.passes, start, strict=True)):
                    break
            self.stopping.wait(0.05)
        with self.lock:
            self.expected = None   # the writer changes things again next
            answer = {'violations': self.violations, 'errors': self.errors}
            self.errors = []
        return answer


def main(argv: list[str]) -> int:
    from nova_cells import connections
    from nova_cells import mapping_cache
    from nova_cells.conf import CONF
    from nova_cells.conf import database as database_conf

    api_url, local_url, interval = argv[0], argv[1], float(argv[2])
    CONF([], project='nova_cells', default_config_files=[])
    database_conf.apply_defaults(CONF)
    CONF.set_override('connection', api_url, group='api_database')
    CONF.set_override('connection', local_url, group='database')
    CONF.set_override('mapping_cache', True, group='cells')
    CONF.set_override('mapping_cache_check_interval', interval,
                      group='cells')
    connections.get_registry().configure(CONF)
    uuids = json.loads(sys.stdin.readline())['uuids']
    reader = Reader(uuids)
    threads = [threading.Thread(target=reader.work, args=(index,),
                                daemon=True) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command['cmd'] == 'watch':
            reader.watched.add(sa.engine.make_url(command['url']).database)
            answer = {'ok': True}
        elif command['cmd'] == 'verify':
            answer = reader.verify(command)
        else:
            reader.stopping.set()
            for thread in threads:
                thread.join(60)
            answer = {'stats': mapping_cache.stats().__dict__,
                      'errors': reader.errors}
        print(json.dumps(answer), flush=True)
        if command['cmd'] == 'stop':
            break
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
