"""The main-database functions, behaving the same on every backend.

Run against the local main database (routing itself is test_routing's
subject); the same functions reach a cell's database when targeted.
"""

import datetime
import itertools

import sqlalchemy as sa
from oslo_utils import uuidutils

from nova_cells import exception
from nova_cells.db.sqlalchemy import api as db_api
from nova_cells.db.sqlalchemy import models
from nova_cells.db.sqlalchemy import pagination
from nova_cells.tests.fixtures import base


def count_rows(url: str, table) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def uuids(rows) -> list[str]:
    return [row.uuid for row in rows]


class TestInstances(base.DatabaseTestCase):

    def reading(self, read_deleted):
        return self.context.elevated(read_deleted=read_deleted)

    def test_create_and_get(self):
        created = db_api.instance_create(self.context, {
            'host': 'h1', 'project_id': 'p1', 'vm_state': 'active'})
        self.assertTrue(uuidutils.is_uuid_like(created.uuid))
        self.assertEqual(0, created.deleted)
        self.assertIsInstance(created.created_at, datetime.datetime)
        found = db_api.instance_get_by_uuid(self.context, created.uuid)
        self.assertEqual(created.id, found.id)
        self.assertEqual(('h1', 'p1', 'active'),
                         (found.host, found.project_id, found['vm_state']))

    def test_create_keeps_a_given_uuid_and_refuses_a_duplicate(self):
        uuid = uuidutils.generate_uuid()
        db_api.instance_create(self.context, {'uuid': uuid, 'host': 'a'})
        self.assertRaises(exception.InstanceExists, db_api.instance_create,
                          self.context, {'uuid': uuid, 'host': 'b'})
        self.assertEqual(1, count_rows(self.database.main.url,
                                       models.Instance.__table__))
        self.assertEqual('a', db_api.instance_get_by_uuid(
            self.context, uuid).host)

    def test_get_missing(self):
        error = self.assertRaises(exception.InstanceNotFound,
                                  db_api.instance_get_by_uuid,
                                  self.context, 'no-such-uuid')
        self.assertIn('no-such-uuid', str(error))

    def test_update(self):
        created = db_api.instance_create(self.context, {'host': 'h1'})
        updated = db_api.instance_update(self.context, created.uuid,
                                         {'host': 'h2', 'power_state': 1})
        self.assertEqual(('h2', 1), (updated.host, updated.power_state))
        self.assertIsNotNone(updated.updated_at)
        self.assertEqual('h2', db_api.instance_get_by_uuid(
            self.context, created.uuid).host)
        self.assertRaises(exception.InstanceNotFound, db_api.instance_update,
                          self.context, 'no-such-uuid', {'host': 'x'})

    def test_destroy_is_a_soft_delete(self):
        created = db_api.instance_create(self.context, {'host': 'h1'})
        destroyed = db_api.instance_destroy(self.context, created.uuid)
        self.assertEqual(created.id, destroyed.deleted)
        self.assertIsNotNone(destroyed.deleted_at)
        self.assertEqual(1, count_rows(self.database.main.url,
                                       models.Instance.__table__))
        self.assertRaises(exception.InstanceNotFound,
                          db_api.instance_destroy, self.context, created.uuid)
        self.assertRaises(exception.InstanceNotFound, db_api.instance_update,
                          self.context, created.uuid, {'host': 'x'})

    def test_read_deleted(self):
        live = db_api.instance_create(self.context, {'host': 'live'})
        gone = db_api.instance_create(self.context, {'host': 'gone'})
        db_api.instance_destroy(self.context, gone.uuid)
        visible = {'no': {live.uuid}, 'yes': {live.uuid, gone.uuid},
                   'only': {gone.uuid}}
        for read_deleted, expected in visible.items():
            ctxt = self.reading(read_deleted)
            self.assertEqual(expected, set(uuids(
                db_api.instance_get_all_by_filters(ctxt))), read_deleted)
            self.assertEqual(len(expected), db_api.instance_count(ctxt))
            for instance in (live, gone):
                if instance.uuid in expected:
                    db_api.instance_get_by_uuid(ctxt, instance.uuid)
                else:
                    self.assertRaises(exception.InstanceNotFound,
                                      db_api.instance_get_by_uuid, ctxt,
                                      instance.uuid)
        # The deleted filter overrides the context's read_deleted.
        self.assertEqual([gone.uuid], uuids(db_api.instance_get_all_by_filters(
            self.reading('no'), {'deleted': True})))
        self.assertEqual([live.uuid], uuids(db_api.instance_get_all_by_filters(
            self.reading('only'), {'deleted': False})))

    def test_filters(self):
        rows = {}
        for name, host, project in (('a', 'h1', 'p1'), ('b', 'h1', 'p2'),
                                    ('c', 'h2', 'p1'), ('d', None, 'p1')):
            rows[name] = db_api.instance_create(self.context, {
                'display_name': name, 'host': host, 'project_id': project})

        def names(filters):
            return sorted(row.display_name for row in
                          db_api.instance_get_all_by_filters(
                              self.context, filters))

        self.assertEqual(['a', 'b'], names({'host': 'h1'}))
        self.assertEqual(['a'], names({'host': 'h1', 'project_id': 'p1'}))
        self.assertEqual(['a', 'b', 'c'], names({'host': ['h1', 'h2']}))
        self.assertEqual(['d'], names({'host': None}))
        self.assertEqual([], names({'host': 'nowhere'}))
        self.assertEqual(['c'], names({'uuid': rows['c'].uuid}))


class TestInstancesMySQL(base.MySQLMixin, TestInstances):
    pass


class TestInstancesPostgreSQL(base.PostgreSQLMixin, TestInstances):
    pass


# (display_name, host, power_state): NULLs in every sortable column, ties
# broken only by uuid, and lower-case ASCII so collation plays no part.
SORT_ROWS = [
    ('alpha', 'h2', 1), ('bravo', None, None), (None, 'h1', 3),
    ('charlie', 'h1', None), (None, None, 1), ('alpha', 'h1', 2),
    ('delta', 'h3', 4), (None, 'h2', None), ('bravo', 'h2', 1),
    ('echo', None, 2), ('alpha', None, None),
]


def null_smallest(value):
    return (False, 0) if value is None else (True, value)


def python_order(rows, keys, dirs):
    """The order every backend must give: NULL is the smallest value."""
    ordered = list(rows)
    # Stable sorts, least significant key first.
    for key, direction in reversed(list(zip(keys, dirs, strict=True))):
        ordered.sort(key=lambda row, key=key: null_smallest(
            getattr(row, key)), reverse=direction == 'desc')
    return ordered


class TestSortingAndPaging(base.DatabaseTestCase):

    def setUp(self):
        super().setUp()
        self.rows = [
            db_api.instance_create(self.context, {
                'display_name': name, 'host': host, 'power_state': power})
            for name, host, power in SORT_ROWS]
        self.deleted = db_api.instance_create(self.context,
                                              {'display_name': 'zulu'})
        db_api.instance_destroy(self.context, self.deleted.uuid)

    SORTS = [
        (['display_name'], ['asc']), (['display_name'], ['desc']),
        (['host', 'display_name'], ['asc', 'desc']),
        (['power_state', 'host'], ['desc', 'asc']),
        (['host', 'power_state', 'display_name'], ['desc']),
        (['uuid'], ['asc']),
    ]

    def test_sort_with_nulls_is_the_same_on_every_backend(self):
        for keys, dirs in self.SORTS:
            full_dirs = dirs + [dirs[-1]] * (len(keys) - len(dirs))
            if 'uuid' not in keys:
                expected_keys = keys + ['uuid']
                full_dirs = full_dirs + [full_dirs[-1]]
            else:
                expected_keys = keys
            expected = python_order(self.rows, expected_keys, full_dirs)
            result = db_api.instance_get_all_by_filters(
                self.context, sort_keys=keys, sort_dirs=dirs)
            self.assertEqual(uuids(expected), uuids(result), (keys, dirs))

    def test_default_sort_is_newest_first(self):
        result = db_api.instance_get_all_by_filters(self.context)
        self.assertEqual(len(self.rows), len(result))
        created = [(row.created_at, row.uuid) for row in result]
        self.assertEqual(sorted(created, reverse=True), created)

    def test_paging_gives_every_row_exactly_once(self):
        for (keys, dirs), limit in itertools.product(self.SORTS, (1, 3, 4)):
            everything = uuids(db_api.instance_get_all_by_filters(
                self.context, sort_keys=keys, sort_dirs=dirs))
            paged, marker = [], None
            for _ in range(len(self.rows) + 1):
                page = uuids(db_api.instance_get_all_by_filters(
                    self.context, sort_keys=keys, sort_dirs=dirs,
                    limit=limit, marker=marker))
                self.assertLessEqual(len(page), limit)
                if not page:
                    break
                paged.extend(page)
                marker = page[-1]
            self.assertEqual(everything, paged, (keys, dirs, limit))
            self.assertEqual(len(self.rows), len(set(paged)))

    def test_limit(self):
        self.assertEqual(3, len(db_api.instance_get_all_by_filters(
            self.context, limit=3)))
        self.assertEqual([], db_api.instance_get_all_by_filters(
            self.context, limit=0))

    def test_marker_not_found(self):
        error = self.assertRaises(
            exception.MarkerNotFound, db_api.instance_get_all_by_filters,
            self.context, marker='no-such-marker')
        self.assertIn('no-such-marker', str(error))

    def test_marker_may_be_a_deleted_instance(self):
        # Nova's behaviour: a page ending with an instance deleted since
        # still lets the caller fetch the next page.
        everything = db_api.instance_get_all_by_filters(
            self.context, sort_keys=['display_name'], sort_dirs=['desc'])
        after_deleted = db_api.instance_get_all_by_filters(
            self.context, sort_keys=['display_name'], sort_dirs=['desc'],
            marker=self.deleted.uuid)
        self.assertEqual(uuids(everything), uuids(after_deleted))
        self.assertNotIn(self.deleted.uuid, uuids(after_deleted))


class TestStringOrder(base.DatabaseTestCase):
    """Strings sort by code point on every backend, as Python sorts them,
    so pages from cells on different backends merge in one order."""

    NAMES = ['a', 'B', 'b', 'A', '_x', 'a ', 'caf\u00e9', 'cafe', 'Z',
             'z', None]

    def setUp(self):
        super().setUp()
        self.rows = [db_api.instance_create(self.context,
                                            {'display_name': name})
                     for name in self.NAMES]

    def test_sort_is_by_code_point(self):
        for direction in ('asc', 'desc'):
            expected = python_order(self.rows, ['display_name', 'uuid'],
                                    [direction, direction])
            result = db_api.instance_get_all_by_filters(
                self.context, sort_keys=['display_name'],
                sort_dirs=[direction])
            self.assertEqual([row.display_name for row in expected],
                             [row.display_name for row in result])
            order = pagination.SortOrder.build(['display_name'],
                                               [direction])
            self.assertEqual(uuids(result),
                             uuids(sorted(result, key=order.sort_key)))

    def test_paging_by_string_gives_every_row_once(self):
        everything = uuids(db_api.instance_get_all_by_filters(
            self.context, sort_keys=['display_name'], sort_dirs=['asc']))
        paged, marker = [], None
        while True:
            page = uuids(db_api.instance_get_all_by_filters(
                self.context, sort_keys=['display_name'],
                sort_dirs=['asc'], limit=2, marker=marker))
            if not page:
                break
            paged.extend(page)
            marker = page[-1]
        self.assertEqual(everything, paged)


class TestStringOrderMySQL(base.MySQLMixin, TestStringOrder):
    pass


class TestStringOrderPostgreSQL(base.PostgreSQLMixin, TestStringOrder):
    pass


class TestSortingAndPagingMySQL(base.MySQLMixin, TestSortingAndPaging):
    pass


class TestSortingAndPagingPostgreSQL(base.PostgreSQLMixin,
                                     TestSortingAndPaging):
    pass


class TestComputeNodesAndServices(base.DatabaseTestCase):

    def test_compute_nodes(self):
        nodes = [db_api.compute_node_create(self.context, {
            'host': host, 'hypervisor_hostname': node, 'vcpus': 4})
            for host, node in (('h1', 'n1'), ('h1', 'n2'), ('h2', 'n3'))]
        self.assertEqual(uuids(nodes), uuids(
            db_api.compute_node_get_all(self.context)))
        self.assertEqual(['n1', 'n2'], [
            node.hypervisor_hostname for node in
            db_api.compute_node_get_all_by_host(self.context, 'h1')])
        self.assertRaises(exception.ComputeHostNotFound,
                          db_api.compute_node_get_all_by_host, self.context,
                          'h9')
        self.assertEqual(uuids(nodes), uuids(
            db_api.compute_node_get_all_unmapped(self.context)))
        changed = db_api.compute_nodes_mark_mapped(
            self.context, [nodes[0].id, nodes[2].id])
        self.assertEqual(2, changed)
        self.assertEqual([nodes[1].uuid], uuids(
            db_api.compute_node_get_all_unmapped(self.context)))
        self.assertEqual(0, db_api.compute_nodes_mark_mapped(self.context,
                                                             []))

    def test_duplicate_compute_node_is_refused(self):
        values = {'host': 'h1', 'hypervisor_hostname': 'n1'}
        db_api.compute_node_create(self.context, values)
        error = self.assertRaises(exception.Conflict,
                                  db_api.compute_node_create, self.context,
                                  dict(values))
        self.assertIn('n1', str(error))
        self.assertEqual(1, len(db_api.compute_node_get_all(self.context)))

    def test_services(self):
        db_api.service_create(self.context, {
            'host': 'h1', 'binary': 'nova-compute', 'topic': 'compute'})
        db_api.service_create(self.context, {
            'host': 'h2', 'binary': 'nova-compute', 'topic': 'compute',
            'disabled': True})
        db_api.service_create(self.context, {
            'host': 'h1', 'binary': 'nova-scheduler', 'topic': 'scheduler'})
        self.assertEqual(3, len(db_api.service_get_all(self.context)))
        self.assertEqual(['h1', 'h2'], [
            service.host for service in db_api.service_get_all_by_binary(
                self.context, 'nova-compute')])
        self.assertEqual(['h1'], [
            service.host for service in db_api.service_get_all_by_binary(
                self.context, 'nova-compute', include_disabled=False)])
        self.assertEqual(['h2'], [
            service.host for service in db_api.service_get_all(
                self.context, disabled=True)])
        self.assertRaises(exception.Conflict, db_api.service_create,
                          self.context, {'host': 'h1',
                                         'binary': 'nova-compute',
                                         'topic': 'other'})
        self.assertEqual(3, len(db_api.service_get_all(self.context)))


class TestComputeNodesAndServicesMySQL(base.MySQLMixin,
                                       TestComputeNodesAndServices):
    pass


class TestComputeNodesAndServicesPostgreSQL(base.PostgreSQLMixin,
                                            TestComputeNodesAndServices):
    pass


class TestBadInput(base.DatabaseTestCase):
    """Refused with a message naming the problem; nothing written."""

    def setUp(self):
        super().setUp()
        self.instance = db_api.instance_create(self.context, {'host': 'h'})

    def assertNothingWritten(self):
        self.assertEqual(1, count_rows(self.database.main.url,
                                       models.Instance.__table__))
        self.assertEqual('h', db_api.instance_get_by_uuid(
            self.context, self.instance.uuid).host)
        for table in (models.ComputeNode.__table__,
                      models.Service.__table__):
            self.assertEqual(0, count_rows(self.database.main.url, table))

    def assertInvalid(self, words, function, *args, **kwargs):
        error = self.assertRaises(exception.Invalid, function, *args,
                                  **kwargs)
        for word in words:
            self.assertIn(word, str(error))
        self.assertNothingWritten()

    def test_unknown_filter(self):
        self.assertInvalid(['colour'], db_api.instance_get_all_by_filters,
                           self.context, {'colour': 'red'})

    def test_unknown_sort_key_and_direction(self):
        self.assertInvalid(['colour'], db_api.instance_get_all_by_filters,
                           self.context, sort_keys=['colour'])
        self.assertInvalid(['sideways'], db_api.instance_get_all_by_filters,
                           self.context, sort_keys=['host'],
                           sort_dirs=['sideways'])
        self.assertInvalid(['directions'],
                           db_api.instance_get_all_by_filters, self.context,
                           sort_keys=['host'], sort_dirs=['asc', 'desc'])

    def test_negative_limit(self):
        self.assertInvalid(['-1'], db_api.instance_get_all_by_filters,
                           self.context, limit=-1)

    def test_unknown_columns_in_values(self):
        self.assertInvalid(['colour'], db_api.instance_create, self.context,
                           {'host': 'x', 'colour': 'red'})
        self.assertInvalid(['colour'], db_api.instance_update, self.context,
                           self.instance.uuid, {'host': 'x',
                                                'colour': 'red'})
        self.assertInvalid(['colour'], db_api.compute_node_create,
                           self.context, {'host': 'x', 'colour': 'red'})
        self.assertInvalid(['colour'], db_api.service_create, self.context,
                           {'host': 'x', 'colour': 'red'})

    def test_read_only_columns(self):
        self.assertInvalid(['id'], db_api.instance_create, self.context,
                           {'id': 99, 'host': 'x'})
        self.assertInvalid(['uuid'], db_api.instance_update, self.context,
                           self.instance.uuid, {'uuid': 'other'})
        self.assertInvalid(['id'], db_api.instance_update, self.context,
                           self.instance.uuid, {'id': 5})


class TestBadInputMySQL(base.MySQLMixin, TestBadInput):
    pass


class TestBadInputPostgreSQL(base.PostgreSQLMixin, TestBadInput):
    pass
