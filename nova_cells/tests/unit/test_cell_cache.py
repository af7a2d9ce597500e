"""The cached cell list of all-cells fan-out."""

from nova_cells import cell_cache
from nova_cells import context
from nova_cells.tests.fixtures import base
from nova_cells.tests.fixtures.cells import FakeCell


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class TestCellListCache(base.TestCase):

    def setUp(self):
        super().setUp()
        # This list is kept only with the mapping cache off; on, the
        # mapping cache keeps it (tests/unit/test_mapping_cache.py).
        self.flags(group='cells', mapping_cache=False)
        self.context = context.get_admin_context()
        self.cells = [FakeCell(name='cell0', cell0=True),
                      FakeCell(name='cell1'),
                      FakeCell(name='disabled', disabled=True)]
        self.loads = 0
        self.clock = FakeClock()
        self.cache = cell_cache.CellListCache(self.load, self.clock)

    def load(self, ctxt):
        self.loads += 1
        return list(self.cells)

    def uuids(self, cells):
        return [cell.uuid for cell in cells]

    def test_within_the_ttl_the_cached_list_is_used(self):
        self.flags(group='cells', cell_cache_ttl=30)
        first = self.cache.get(self.context)
        self.cells.append(FakeCell(name='new'))
        self.clock.now += 29

        self.assertEqual(self.uuids(first),
                         self.uuids(self.cache.get(self.context)))
        self.assertEqual(1, self.loads)

    def test_a_new_or_deleted_cell_is_seen_after_the_ttl(self):
        self.flags(group='cells', cell_cache_ttl=30)
        self.cache.get(self.context)
        new = FakeCell(name='new')
        deleted = self.cells.pop(1)
        self.cells.append(new)
        self.clock.now += 30

        listed = self.uuids(self.cache.get(self.context))

        self.assertIn(new.uuid, listed)
        self.assertNotIn(deleted.uuid, listed)
        self.assertEqual(2, self.loads)

    def test_ttl_zero_loads_every_time(self):
        self.flags(group='cells', cell_cache_ttl=0)
        self.cache.get(self.context)
        self.cache.get(self.context)
        self.assertEqual(2, self.loads)

    def test_a_failed_load_is_not_cached(self):
        self.flags(group='cells', cell_cache_ttl=30)

        def broken(ctxt):
            raise RuntimeError('API database down')

        self.cache.replace_loader(broken)
        self.assertRaises(RuntimeError, self.cache.get, self.context)
        self.cache.replace_loader(self.load)
        self.assertEqual(self.uuids(self.cells),
                         self.uuids(self.cache.get(self.context)))

    def test_another_api_database_is_loaded_at_once(self):
        self.flags(group='cells', cell_cache_ttl=30)
        self.cache.get(self.context)
        self.flags(group='api_database', connection='sqlite:///other.db')
        self.cache.get(self.context)
        self.assertEqual(2, self.loads)

    def test_invalidate_forces_a_reload(self):
        self.flags(group='cells', cell_cache_ttl=30)
        self.cache.get(self.context)
        self.cache.invalidate()
        self.cache.get(self.context)
        self.assertEqual(2, self.loads)


class TestCellListCacheWithTheMappingCache(base.TestCase):

    def test_every_call_reads_the_mapping_caches_list(self):
        loads = []
        cache = cell_cache.CellListCache(
            lambda ctxt: loads.append(1) or [FakeCell(name='cell1')],
            FakeClock())
        self.flags(group='cells', mapping_cache=True, cell_cache_ttl=30)
        cache.get(context.get_admin_context())
        cache.get(context.get_admin_context())
        self.assertEqual(2, len(loads))
