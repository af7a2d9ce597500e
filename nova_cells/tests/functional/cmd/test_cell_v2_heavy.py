"""The issue's heavy scenarios, through the installed console script:

* two ``discover_hosts`` processes at once on MySQL: every host mapped
  exactly once, both exit 0;
* ``map_instances`` over 20,000 instances killed with SIGKILL mid-run, then
  rerun: every instance mapped exactly once;
* ``db sync --all-cells`` with one unreachable cell: the others migrate,
  the bad one is named (password masked), the exit code says so.
"""

import collections
import os
import signal
import time

import sqlalchemy as sa

from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.db import migration
from nova_cells.db.sqlalchemy import api_models
from nova_cells.db.sqlalchemy import models
from nova_cells.tests.fixtures import backends
from nova_cells.tests.fixtures import builders
from nova_cells.tests.fixtures import cli


def _engine(url: str) -> sa.engine.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _scalar(url: str, statement):
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(statement).scalar()
    finally:
        engine.dispose()


class TestConcurrentDiscoverHostsMySQL(cli.CellV2TestCase):

    BACKEND = backends.MYSQL
    HOSTS_PER_CELL = 150

    def test_two_processes_map_every_host_once(self):
        local = cli.InProcess(self)
        hosts = []
        for index, url in enumerate(self.cell_urls(2)):
            cell = builders.create_cell(local.context, url, 'cell%d' % index)
            names = ['c%d-host%03d' % (index, n)
                     for n in range(self.HOSTS_PER_CELL)]
            with cell.target(local.context) as cctxt:
                builders.add_compute_nodes(cctxt, *names)
            hosts.extend(names)
        processes = [self.start_manage('discover_hosts', '--verbose')
                     for _ in range(2)]
        mapped_by = collections.Counter()
        for process in processes:
            stdout, stderr = process.communicate(timeout=300)
            self.assertEqual(0, process.returncode, stdout + stderr)
            self.assertEqual('', stderr)
            for line in stdout.splitlines():
                if line.startswith('Mapped host '):
                    mapped_by[line.split()[2]] += 1
        # Each host was mapped by exactly one of the two processes.
        self.assertEqual(sorted(hosts), sorted(mapped_by))
        self.assertEqual({1}, set(mapped_by.values()))
        self.assertEqual(len(hosts), _scalar(
            self.api_url, sa.select(sa.func.count()).select_from(
                api_models.HostMapping)))
        rows = [row.host for row in hosts_admin.list_hosts(local.context)]
        self.assertEqual(sorted(hosts), rows)


class TestMapInstancesKilledMidRun(cli.CellV2TestCase):

    INSTANCES = 20000

    def _marker(self) -> int:
        table = api_models.MapInstancesMarker.__table__
        return _scalar(self.api_url, sa.select(
            sa.func.max(table.c.last_instance_id))) or 0

    def _mappings(self) -> list[str]:
        table = api_models.InstanceMapping.__table__
        engine = _engine(self.api_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(
                    sa.select(table.c.instance_uuid)).scalars())
        finally:
            engine.dispose()

    def test_rerun_after_sigkill_maps_each_instance_once(self):
        local = cli.InProcess(self)
        url = self.cell_urls(1)[0]
        cell = builders.create_cell(local.context, url)
        uuids = builders.add_instances(url, self.INSTANCES)
        process = self.start_manage('map_instances', '--cell_uuid',
                                    cell.uuid, '--batch-size', '10')
        deadline = time.monotonic() + 120
        while self._marker() < 1000:
            self.assertIsNone(process.poll(), 'finished before the kill')
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
        self.assertEqual(-signal.SIGKILL, process.returncode)

        marker = self._marker()
        mapped = self._mappings()
        self.assertLess(len(mapped), self.INSTANCES, 'not killed mid-run')
        # Mappings and resume point were committed together: exactly the
        # instances up to the marker are mapped, no more, no fewer.
        instances = models.Instance.__table__
        self.assertEqual(marker, _scalar(url, sa.select(sa.func.count())
                                         .where(instances.c.id <= marker)))
        self.assertEqual(marker, len(mapped))

        rerun = self.manage('map_instances', '--cell_uuid', cell.uuid)
        self.assertIn('Resumed after instance id %d.' % marker, rerun.stdout)
        self.assertIn('%d mapped' % (self.INSTANCES - marker), rerun.stdout)
        counts = collections.Counter(self._mappings())
        self.assertEqual(set(uuids), set(counts))
        self.assertEqual({1}, set(counts.values()))


class TestDbSyncAllCells(cli.CellV2TestCase):

    UNREACHABLE = 'mysql+pymysql://nova:hunter2@127.0.0.1:1/nova'
    MAIN_SCHEMA = False

    def test_unreachable_cell_is_named_and_others_migrate(self):
        local = cli.InProcess(self)
        cells_admin.map_cell0(local.context)
        good = builders.create_cell(local.context, 'sqlite:///' + os.path.join(
            self.directory, 'good.sqlite'), 'good')
        bad = builders.create_cell(local.context, self.UNREACHABLE, 'bad')
        started = time.monotonic()
        result = self.manage('sync', '--all-cells', category='db', expect=1)
        self.assertLess(time.monotonic() - started, 60)
        errors = result.stderr.splitlines()
        self.assertEqual(2, len(errors), result.stderr)
        self.assertIn(bad.identity, errors[0])
        self.assertIn('nova:***@127.0.0.1:1', errors[0])
        self.assertNotIn('hunter2', result.stderr + result.stdout)
        self.assertIn('1 of 4', errors[1])
        head = migration.head(migration.MAIN)
        for label in (good.identity, cells_admin.CELL0_UUID,
                      '[database] connection'):
            self.assertIn(label, result.stdout)
        for cell_uuid in (good.uuid, cells_admin.CELL0_UUID):
            cell = cells_admin.get_cell(local.context, cell_uuid)
            with cell.target(local.context) as cctxt:
                self.assertEqual(head, migration.db_version(
                    migration.MAIN, context=cctxt))
        # Everything fine: exit 0.
        cells_admin.delete_cell(local.context, bad.uuid)
        self.manage('sync', '--all-cells', category='db')
