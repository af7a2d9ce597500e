"""SQLite cell engines share one compiled-statement cache; a statement is
compiled once per process, and each engine still reads its own file."""

import json
import os

import fixtures
import sqlalchemy as sa

from nova_cells.db.sqlalchemy import compiled_cache
from nova_cells.tests.fixtures import base

TABLE = sa.table('cells', sa.column('name'))
READ = sa.select(TABLE.c.name).where(TABLE.c.name != sa.bindparam('not'))


class TestSharedCompiledCache(base.TestCase):

    def setUp(self):
        super().setUp()
        self.directory = self.useFixture(fixtures.TempDir()).path

    def engine(self, name, **options):
        path = os.path.join(self.directory, name + '.sqlite')
        engine = sa.create_engine('sqlite:///' + path,
                                  poolclass=sa.pool.NullPool, **options)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.execute(sa.text('CREATE TABLE cells (name TEXT)'))
            connection.execute(sa.text('INSERT INTO cells VALUES (:n)'),
                               {'n': name})
        compiled_cache.share(engine)
        return engine

    @staticmethod
    def read(engine):
        with engine.connect() as connection:
            result = connection.execute(READ, {'not': 'x'})
            return result.scalar_one(), result.context.compiled

    def test_engines_compile_a_statement_once_and_read_their_own_file(self):
        names = ['cell%d' % index for index in range(3)]
        reads = [self.read(self.engine(name)) for name in names]
        self.assertEqual(names, [name for name, _compiled in reads])
        first = reads[0][1]
        for _name, compiled in reads[1:]:
            self.assertIs(first, compiled)

    def test_a_dialect_set_differently_compiles_its_own(self):
        _name, plain = self.read(self.engine('plain'))
        name, other = self.read(self.engine('other', label_length=12))
        self.assertEqual('other', name)
        self.assertIsNot(plain, other)

    def test_a_dialect_holding_other_objects_compiles_its_own(self):
        # A setting that is an object (here a JSON serialiser) is compared
        # by identity: each engine writes with its own.
        table = sa.Table('docs', sa.MetaData(), sa.Column('doc', sa.JSON))
        stored = []
        for name in ('a', 'b'):
            engine = self.engine(name, json_serializer=lambda _value,
                                 name=name: json.dumps({'by': name}))
            with engine.begin() as connection:
                table.create(connection)
                connection.execute(table.insert(), {'doc': {}})
            with engine.connect() as connection:
                stored.append(connection.execute(
                    sa.text('SELECT doc FROM docs')).scalar_one())
        self.assertEqual(['{"by": "a"}', '{"by": "b"}'], stored)

    def test_a_dialect_with_another_compiler_compiles_its_own(self):
        class Marking(sa.dialects.sqlite.base.SQLiteCompiler):
            def visit_select(self, *args, **kwargs):
                return '/* marked */ ' + super().visit_select(*args, **kwargs)

        plain_engine = self.engine('plain')
        # Both set on the instance: only the compiler differs.
        plain_engine.dialect.statement_compiler = (
            sa.dialects.sqlite.base.SQLiteCompiler)
        _name, plain = self.read(plain_engine)
        marked = self.engine('marked')
        marked.dialect.statement_compiler = Marking
        name, compiled = self.read(marked)
        self.assertEqual('marked', name)
        self.assertIsNot(plain, compiled)
        self.assertIn('/* marked */', compiled.string)

    def test_other_backends_keep_their_own_cache(self):
        engine = sa.create_engine('postgresql+psycopg2://u@127.0.0.1/db')
        own = engine._compiled_cache
        compiled_cache.share(engine)
        self.assertIs(own, engine._compiled_cache)
