"""Two real processes on one API database: one reads from 8 threads with
the mapping cache on, this one changes cells and moves instances.

After each change, once the check interval has passed, no read in the
other process may answer from the old state; at no time may it report a
moved instance missing or run a statement on a deleted cell's database.
The reading process is :mod:`nova_cells.tests.functional.
mapping_cache_reader`; the two talk in JSON lines (handshakes, no
timing assumptions beyond "the interval has passed").
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
import types

from nova_cells import objects
from nova_cells.cells_admin import cells as cells_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.tests.fixtures import base

INTERVAL = 0.5
INSTANCES = 8
#: Seconds before a silent reading process is killed (the test fails).
WATCHDOG = 300


class TestTwoProcesses(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='cells', mapping_cache=True)
        url_a, self.url_a2, url_b, self.url_c = self.cell_database_urls(4)
        self.cell_a = self._cell('a', url_a)
        self.cell_b = self._cell('b', url_b)
        self.cell_c = self._cell('c', self.url_c)
        # The same instances in a's database and in the one it will move
        # to, told apart by host.
        self.uuids = []
        for _ in range(INSTANCES):
            with self.cell_a.target(self.context) as in_a:
                uuid = db_api.instance_create(in_a, {'host': 'a'}).uuid
            self._copy(uuid, self.url_a2, 'a2')
            objects.InstanceMapping(self.context, instance_uuid=uuid,
                                    project_id='p1',
                                    cell_mapping=self.cell_a).create()
            self.uuids.append(uuid)
        self.reader = self._start_reader()

    def _cell(self, name, url):
        cell = objects.CellMapping(self.context, name=name,
                                   transport_url='none:///',
                                   database_connection=url)
        cell.create()
        return cell

    def _copy(self, uuid, url, host):
        target = types.SimpleNamespace(uuid=url, database_connection=url,
                                       transport_url='none:///')
        from nova_cells import context

        with context.target_cell(self.context, target) as cctxt:
            db_api.instance_create(cctxt, {'uuid': uuid, 'host': host})

    def _start_reader(self):
        stderr = tempfile.TemporaryFile(mode='w+')
        self.addCleanup(stderr.close)
        process = subprocess.Popen(
            [sys.executable, '-m',
             'nova_cells.tests.functional.mapping_cache_reader',
             self.database.api.url, self.database.main.url, str(INTERVAL)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True)
        watchdog = threading.Timer(WATCHDOG, process.kill)
        watchdog.start()
        self.addCleanup(watchdog.cancel)
        self.addCleanup(process.wait, 60)
        self.addCleanup(process.kill)

        def show_stderr():
            stderr.seek(0)
            return stderr.read()[-4000:]

        self.reader_stderr = show_stderr
        self._process = process
        self.assertEqual({'ready': True}, self._send({'uuids': self.uuids}))
        return process

    def _send(self, command):
        self._process.stdin.write(json.dumps(command) + '\n')
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        self.assertTrue(line, 'the reading process died:\n%s'
                        % self.reader_stderr())
        return json.loads(line)

    def _verify(self, hosts, cells=None, gone=()):
        # A change made before this sleep is due for a check in the other
        # process by its end: a lower bound, never a race.
        time.sleep(INTERVAL)
        answer = self._send({'cmd': 'verify', 'hosts': hosts,
                             'cells': cells or {}, 'gone': list(gone)})
        self.assertEqual([], answer['errors'])
        self.assertEqual([], answer['violations'])

    def test_reads_follow_every_change_of_the_other_process(self):
        hosts = dict.fromkeys(self.uuids, 'a')
        self._verify(hosts)                 # warm, and the baseline
        a = self.cell_a.uuid
        cells_admin.update_cell(self.context, a,
                                database_connection=self.url_a2)
        hosts = dict.fromkeys(self.uuids, 'a2')
        self._verify(hosts, {a: {'database_connection': self.url_a2}})
        cells_admin.update_cell(self.context, a, name='renamed')
        self._verify(hosts, {a: {'name': 'renamed'}})
        cells_admin.update_cell(self.context, a, disable=True)
        self._verify(hosts, {a: {'disabled': True}})   # still readable
        # Move half of them to b: copy, repoint, delete the old row.
        cell_a = objects.CellMapping.get_by_uuid(self.context, a)
        for uuid in self.uuids[:INSTANCES // 2]:
            with self.cell_b.target(self.context) as in_b:
                db_api.instance_create(in_b, {'uuid': uuid, 'host': 'b'})
            mapping = objects.InstanceMapping.get_by_instance_uuid(
                self.context, uuid)
            mapping.cell_mapping = self.cell_b
            mapping.save()
            with cell_a.target(self.context) as in_a:
                db_api.instance_destroy(in_a, uuid)
            hosts[uuid] = 'b'
        self._verify(hosts)
        self.assertEqual({'ok': True},
                         self._send({'cmd': 'watch', 'url': self.url_c}))
        cells_admin.delete_cell(self.context, self.cell_c.uuid)
        self._verify(hosts, gone=[self.cell_c.uuid])
        answer = self._send({'cmd': 'stop'})
        self.assertEqual([], answer['errors'])
        stats = answer['stats']
        self.assertTrue(stats['enabled'])
        self.assertGreater(stats['hits'], stats['misses'])
        self.assertGreater(stats['invalidations'], 0)


class TestTwoProcessesMySQL(base.MySQLMixin, TestTwoProcesses):
    pass


class TestTwoProcessesPostgreSQL(base.PostgreSQLMixin, TestTwoProcesses):
    pass
