"""The mapping cache on its own: bound, no negative entries, threads, TTL,
coherence checks (the generation read is stubbed; the functional tests
read it from real databases)."""

import threading
import types

import fixtures

from nova_cells import exception
from nova_cells import mapping_cache
from nova_cells.tests.fixtures import base


class _Cell:
    """Just what the cache needs of a CellMapping."""

    def __init__(self, uuid, url='sqlite://', copies=None):
        self.uuid = uuid
        self.identity = uuid
        self.database_connection = url
        self._copies = copies

    def copy_from_cache(self, context):
        copy = _Cell(self.uuid, self.database_connection, self._copies)
        copy.context = context
        if self._copies is not None:
            self._copies.append(copy)
        return copy


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class MappingCacheTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.flags(group='cells', mapping_cache=True, mapping_cache_size=10,
                   mapping_cache_check_interval=1.0, mapping_cache_ttl=60.0)
        self.generation = 0
        self.reads = 0
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_generation.read',
            self._read_generation))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.mapping_cache._existing_cells',
            lambda _ctxt: set(self.existing)))
        self.existing = set()
        self.clock = _Clock()
        self.cache = mapping_cache.MappingCache(clock=self.clock)
        self.ctxt = types.SimpleNamespace()

    def _read_generation(self, _ctxt):
        self.reads += 1
        return self.generation

    def put_instance(self, uuid, cell, values=('v',)):
        self.cache.put_instance(uuid, cell, values, self.cache.epoch)

    def test_hit_returns_a_copy_bound_to_the_callers_context(self):
        self.cache.get_cell(self.ctxt, 'c1')   # first look-up checks
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        found = self.cache.get_cell(self.ctxt, 'c1')
        self.assertEqual('c1', found.uuid)
        self.assertIs(self.ctxt, found.context)
        self.assertIsNot(found, self.cache.get_cell(self.ctxt, 'c1'))
        stats = self.cache.stats()
        self.assertEqual((2, 1), (stats.hits, stats.misses))

    def test_lru_keeps_at_most_the_configured_size(self):
        self.cache.get_cell(self.ctxt, 'warm')
        cell = _Cell('c1')
        for index in range(25):
            self.put_instance('i%d' % index, cell)
        self.assertEqual(10, self.cache.stats().instances)
        # The least recently used went first; the newest are all there.
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i0'))
        for index in range(15, 25):
            self.assertIsNotNone(
                self.cache.get_instance(self.ctxt, 'i%d' % index))

    def test_a_hit_makes_an_entry_the_most_recently_used(self):
        self.cache.get_cell(self.ctxt, 'warm')
        cell = _Cell('c1')
        for index in range(10):
            self.put_instance('i%d' % index, cell)
        self.assertIsNotNone(self.cache.get_instance(self.ctxt, 'i0'))
        self.put_instance('i10', cell)
        self.assertIsNotNone(self.cache.get_instance(self.ctxt, 'i0'))
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))

    def test_a_miss_is_never_remembered(self):
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.assertIsNone(self.cache.get_cell(self.ctxt, 'c1'))
        self.assertEqual(0, self.cache.stats().instances)
        # The instance is mapped later: the next look-up finds it.
        self.put_instance('i1', _Cell('c1'))
        values, cell = self.cache.get_instance(self.ctxt, 'i1')
        self.assertEqual(('v',), values)
        self.assertEqual('c1', cell.uuid)

    def test_an_instance_without_a_cell_is_never_cached(self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.put_instance('i1', None)
        self.assertEqual(0, self.cache.stats().instances)
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))

    def test_entries_expire_after_the_ttl(self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.put_instance('i1', _Cell('c1'))
        self.clock.now += 59.0
        self.generation = 0   # nothing announced: only the TTL can tell
        self.assertIsNotNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.clock.now += 1.0
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.assertIsNone(self.cache.get_cell(self.ctxt, 'c1'))

    def test_a_result_read_before_an_invalidation_is_not_stored(self):
        self.cache.get_cell(self.ctxt, 'warm')
        epoch = self.cache.epoch            # a look-up starts reading ...
        self.cache.forget(instances=['i1'])  # ... a change commits ...
        self.cache.put_instance('i1', _Cell('c1'), ('old',), epoch)
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))

    def test_generation_checked_at_most_once_per_interval(self):
        self.cache.get_cell(self.ctxt, 'c1')
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        for _ in range(100):
            self.cache.get_cell(self.ctxt, 'c1')
        self.assertEqual(1, self.reads)
        self.clock.now += 1.0
        self.cache.get_cell(self.ctxt, 'c1')
        self.assertEqual(2, self.reads)

    def test_new_generation_drops_everything_and_remembers_deleted_cells(
            self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        self.put_instance('i1', _Cell('c2'))
        self.existing = {'c2'}   # c1 was deleted by another process
        self.generation = 1
        self.clock.now += 1.0
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.assertIsNone(self.cache.get_cell(self.ctxt, 'c1'))
        error = self.assertRaises(exception.CellDeleted,
                                  self.cache.refuse_if_deleted, _Cell('c1'))
        self.assertIn('c1', str(error))
        self.cache.refuse_if_deleted(_Cell('c2'))   # still exists
        # Re-created with the same uuid: targeted again once read.
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        self.cache.refuse_if_deleted(_Cell('c1'))

    def test_own_change_following_the_checked_generation_keeps_the_rest(
            self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.put_instance('i1', _Cell('c1'))
        self.put_instance('i2', _Cell('c1'))
        self.cache.forget(instances=['i1'], new_generation=1)
        self.generation = 1
        self.clock.now += 1.0
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.assertIsNotNone(self.cache.get_instance(self.ctxt, 'i2'))

    def test_a_cell_change_is_seen_by_every_mapping_into_it(self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.put_instance('i1', _Cell('c1', url='sqlite:///old'))
        self.cache.forget(cells=['c1'])
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))

    def test_unreadable_generation_serves_nothing_cached(self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)

        def broken(_ctxt):
            raise RuntimeError('no such table: mapping_cache_generation')

        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_generation.read', broken))
        logger = self.useFixture(fixtures.FakeLogger())
        self.clock.now += 1.0
        self.assertIsNone(self.cache.get_cell(self.ctxt, 'c1'))
        self.assertIn('api_db sync', logger.output)

    def test_off_serves_and_stores_nothing(self):
        self.flags(group='cells', mapping_cache=False)
        self.cache.reset()
        self.put_instance('i1', _Cell('c1'))
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        self.assertIsNone(self.cache.get_instance(self.ctxt, 'i1'))
        self.assertIsNone(self.cache.get_cell(self.ctxt, 'c1'))
        self.assertEqual(0, self.reads)
        self.assertFalse(self.cache.stats().enabled)
        # Deleted cells are only remembered by a cache that is on.
        self.cache.forget(deleted_cells=['c1'])
        self.cache.refuse_if_deleted(_Cell('c1'))

    def test_many_threads_one_key(self):
        self.cache.get_cell(self.ctxt, 'warm')
        threads, rounds = 16, 300
        start = threading.Barrier(threads)
        wrong, errors = [], []

        def work(index):
            try:
                start.wait()
                for round_ in range(rounds):
                    if index % 4 == 0 and round_ % 10 == 0:
                        self.cache.forget(instances=['i1'])
                    found = self.cache.get_instance(self.ctxt, 'i1')
                    if found is None:
                        self.put_instance('i1', _Cell('c1'), ('one',))
                    elif found[0] != ('one',) or found[1].uuid != 'c1':
                        wrong.append(found)
            except Exception as error:  # reported below
                errors.append(error)

        workers = [threading.Thread(target=work, args=(index,))
                   for index in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.assertEqual([], errors)
        self.assertEqual([], wrong)
        stats = self.cache.stats()
        self.assertEqual(threads * rounds + 1, stats.hits + stats.misses)
        self.assertLessEqual(stats.instances, 1)

    def test_threads_arriving_when_a_check_is_due_wait_for_one_check(self):
        self.cache.get_cell(self.ctxt, 'warm')
        self.cache.put_cell(_Cell('c1'), self.cache.epoch)
        reading, release = threading.Event(), threading.Event()

        def slow_read(_ctxt):
            self.reads += 1
            reading.set()
            release.wait(30)
            return 7   # another process changed something

        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.db.sqlalchemy.mapping_generation.read', slow_read))
        self.existing = {'c1'}
        self.clock.now += 1.0
        self.reads = 0
        answers = []
        first = threading.Thread(target=lambda: answers.append(
            self.cache.get_cell(self.ctxt, 'c1')))
        first.start()
        self.assertTrue(reading.wait(30))
        others = [threading.Thread(target=lambda: answers.append(
            self.cache.get_cell(self.ctxt, 'c1'))) for _ in range(8)]
        for thread in others:
            thread.start()
        release.set()
        for thread in [first, *others]:
            thread.join(30)
        # One generation read; nobody answered from before the change.
        self.assertEqual(1, self.reads)
        self.assertEqual([None] * 9, answers)
        self.assertEqual(7, self.cache.stats().generation)
