"""``nova-cells-manage cell_v2``: every command's exit codes, through the
installed console script. Assertions are grouped per command family to
keep the number of (slow) subprocesses down; the many edge cases are
tested in process in ``tests/functional/cells_admin``."""

import json

from nova_cells.cells_admin import cells as cells_admin
from nova_cells.cells_admin import hosts as hosts_admin
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.objects import instance_mapping as instance_mapping_obj
from nova_cells.tests.fixtures import builders
from nova_cells.tests.fixtures import cli

SECRET_DB = 'mysql+pymysql://nova:db%40s3cret@10.0.0.1/cell9'
SECRET_MQ = 'rabbit://u1:mq1secret@h1:5672,u2:mq2secret@h2:5672/v'


class TestCellCommands(cli.CellV2TestCase):

    def test_create_list_update_delete(self):
        urls = self.cell_urls(2)
        self.manage('map_cell0')
        again = self.manage('map_cell0')
        self.assertIn('already setup', again.stdout)

        created = self.manage('create_cell', '--name', 'c1',
                              '--transport-url', SECRET_MQ,
                              '--database_connection', SECRET_DB,
                              '--verbose')
        c1 = created.stdout.strip().splitlines()[-1]
        duplicate, bad_url, bad_template = self.manage_at_once(
            (('create_cell', '--name', 'dup', '--database_connection',
              SECRET_DB), 2),
            (('create_cell', '--transport-url', 'rabbit://u:pw@h:nope/',
              '--database_connection', urls[0]), 1),
            (('create_cell', '--database_connection',
              'mysql+pymysql://{username}:{password}@{hostname}/x'), 1))
        self.assertOneErrorLine(duplicate, c1)
        self.assertOneErrorLine(bad_url, 'transport')
        self.assertOneErrorLine(bad_template, '{username}')

        table = self.manage('list_cells').stdout
        self.assertIn('| Name', table)
        self.assertIn('rabbit://u1:***@h1:5672,u2:***@h2:5672/v', table)
        for secret in ('s3cret', 'mq1secret', 'mq2secret'):
            self.assertNotIn(secret, table)
        records = json.loads(self.manage('list_cells', '--verbose',
                                         '--format', 'json').stdout)
        self.assertEqual(['c1', 'cell0'], [r['name'] for r in records])
        self.assertEqual((SECRET_MQ, SECRET_DB, False),
                         (records[0]['transport_url'],
                          records[0]['database_connection'],
                          records[0]['disabled']))

        cell0 = cells_admin.CELL0_UUID
        cell0_database = records[1]['database_connection']
        update = ('update_cell', '--cell_uuid')
        self.manage_at_once(
            ((*update, 'nope', '--name', 'x'), 1),
            ((*update, c1, '--transport-url', 'junk'), 2),
            ((*update, c1, '--database_connection', cell0_database), 3),
            ((*update, c1, '--disable', '--enable'), 4),
            ((*update, cell0, '--disable'), 5),
            (('delete_cell', '--cell_uuid', 'nope'), 1))
        self.manage('update_cell', '--cell_uuid', c1, '--name', 'renamed',
                    '--disable')
        records = json.loads(self.manage('list_cells', '--verbose',
                                         '--format', 'json').stdout)
        # Only what was given changed; the local URLs were never written.
        self.assertEqual([('cell0', False),
                          ('renamed', SECRET_MQ, SECRET_DB, True)],
                         [(r['name'], r['disabled']) if r['name'] == 'cell0'
                          else (r['name'], r['transport_url'],
                                r['database_connection'], r['disabled'])
                          for r in records])

        self.assertOneErrorLine(self.manage(
            'delete_cell', '--cell_uuid', cell0, expect=5), '--force-cell0')
        self.manage('delete_cell', '--cell_uuid', c1)
        self.manage('delete_cell', '--cell_uuid', cell0, '--force-cell0')
        self.assertEqual([], json.loads(self.manage(
            'list_cells', '--format', 'json').stdout))

    def test_debug_adds_the_traceback(self):
        result = self.manage('update_cell', '--cell_uuid', 'nope',
                             '--name', 'x', expect=1, debug=True)
        self.assertIn('Traceback', result.stderr)


class TestHostAndInstanceCommands(cli.CellV2TestCase):

    def setUp(self):
        super().setUp()
        self.local = cli.InProcess(self)
        self.urls = self.cell_urls(2)
        ctxt = self.local.context
        self.cell1 = builders.create_cell(ctxt, self.urls[0], 'cell1')
        self.cell2 = builders.create_cell(ctxt, self.urls[1], 'cell2')

    def _nodes(self, cell, *hosts):
        with cell.target(self.local.context) as cctxt:
            builders.add_compute_nodes(cctxt, *hosts)

    def test_hosts(self):
        self._nodes(self.cell1, 'a', 'b')
        self.manage_at_once(
            (('discover_hosts', '--cell_uuid', 'nope'), 127),
            (('list_hosts', '--cell_uuid', 'nope'), 1),
            (('delete_host', '--cell_uuid', 'nope', '--host', 'a'), 1))
        found = self.manage('discover_hosts', '--verbose', '--strict')
        self.assertIn('Mapped host a', found.stdout)
        self.manage('discover_hosts', '--strict', expect=1)
        self._nodes(self.cell2, 'a')
        self.assertOneErrorLine(self.manage('discover_hosts', expect=2),
                                'host a', self.cell1.uuid)

        hosts = self.manage('list_hosts', '--cell_uuid',
                            self.cell1.uuid).stdout
        self.assertIn('| cell1     | %s | a ' % self.cell1.uuid, hosts)

        builders.add_instances(self.urls[0], 1, host='b')
        delete = ('delete_host', '--cell_uuid')
        self.manage_at_once(
            ((*delete, self.cell1.uuid, '--host', 'zzz'), 2),
            ((*delete, self.cell2.uuid, '--host', 'a'), 3),
            ((*delete, self.cell1.uuid, '--host', 'b'), 4))
        self.manage(*delete, self.cell1.uuid, '--host', 'a')
        self.assertEqual(['b'], [row.host for row in hosts_admin.list_hosts(
            self.local.context)])

    def test_map_and_verify_instances(self):
        uuids = builders.add_instances(self.urls[0], 5)
        map_cell1 = ('map_instances', '--cell_uuid', self.cell1.uuid)
        results = self.manage_at_once(
            ((*map_cell1, '--max-count', '-3'), 127),
            ((*map_cell1, '--max-count', '0'), 127),
            ((*map_cell1, '--max-count', 'x'), 127),
            (('map_instances', '--cell_uuid', 'nope'), 127),
            (('verify_instance', '--uuid', uuids[0]), 1))
        for result in results[:3]:
            self.assertOneErrorLine(result, '--max-count')
        self.assertEqual([], builders.mapped_uuids(self.local.context))

        self.manage('map_instances', '--cell_uuid', self.cell1.uuid,
                    '--max-count', '3', expect=1)
        done = self.manage('map_instances', '--cell_uuid', self.cell1.uuid)
        self.assertIn('Resumed after', done.stdout)
        self.assertEqual(sorted(uuids), sorted(builders.mapped_uuids(
            self.local.context)))

        ctxt = self.local.context
        with self.cell1.target(ctxt) as cctxt:
            db_api.instance_destroy(cctxt, uuids[1])
        instance_mapping_obj.InstanceMapping(
            ctxt, instance_uuid='11111111-2222-3333-4444-555555555555',
            project_id='p').create()
        verified = self.manage('verify_instance', '--uuid', uuids[0])
        self.assertIn(self.cell1.uuid, verified.stdout)
        quiet = self.manage('verify_instance', '--uuid', uuids[1],
                            '--quiet', expect=3)
        self.assertEqual('', quiet.stdout)
        self.manage('verify_instance', '--uuid',
                    '11111111-2222-3333-4444-555555555555', expect=2)


class TestSetupCommands(cli.CellV2TestCase):

    def test_map_cell_and_hosts_then_simple_cell_setup(self):
        local = cli.InProcess(self)
        self.manage('map_cell_and_hosts', '--transport-url', 'junk',
                    expect=1)
        nothing = self.manage('map_cell_and_hosts')
        self.assertIn('No hosts', nothing.stdout)
        self.manage('simple_cell_setup', expect=1)
        builders.add_compute_nodes(local.context, 'local-host')
        uuids = builders.add_instances(self.main_url, 3)
        mapped = self.manage('map_cell_and_hosts', '--verbose')
        self.assertIn('Mapped host local-host', mapped.stdout)
        self.manage('simple_cell_setup')
        cells = cells_admin.list_cells(local.context)
        self.assertEqual(2, len(cells))
        self.assertTrue(any(cell.is_cell0() for cell in cells))
        self.assertEqual(sorted(uuids), sorted(builders.mapped_uuids(
            local.context)))
