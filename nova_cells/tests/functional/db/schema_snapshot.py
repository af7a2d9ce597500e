"""Read a database's schema and rows back, to compare before and after."""

import sqlalchemy as sa


def engine_for(url: str) -> sa.engine.Engine:
    """A pool-less engine: nothing stays connected to block a DROP."""
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _table_shape(inspector, table: str) -> dict:
    return {
        'columns': sorted((column['name'], str(column['type']),
                           column['nullable'])
                          for column in inspector.get_columns(table)),
        'indexes': sorted((index['name'], tuple(index['column_names']),
                           bool(index.get('unique')))
                          for index in inspector.get_indexes(table)),
        'unique': sorted((constraint['name'],
                          tuple(constraint['column_names']))
                         for constraint in
                         inspector.get_unique_constraints(table)),
        'foreign_keys': sorted((str(foreign_key['name']),
                                tuple(foreign_key['constrained_columns']))
                               for foreign_key in
                               inspector.get_foreign_keys(table)),
    }


def rows(connection, table: str) -> list[dict]:
    reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
    query = sa.select(reflected).order_by(*reflected.primary_key.columns)
    return [dict(row) for row in connection.execute(query).mappings()]


def snapshot(url: str) -> dict:
    """Every table's columns, indexes, constraints and rows."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {table: dict(_table_shape(inspector, table),
                                rows=rows(connection, table))
                    for table in sorted(inspector.get_table_names())}
    finally:
        engine.dispose()


def inspect(url: str, function):
    """``function(inspector, connection)`` against the database at url."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return function(sa.inspect(connection), connection)
    finally:
        engine.dispose()


def plain_indexes(inspector, table: str) -> dict[str, tuple]:
    """Non-unique indexes, less those MySQL adds for a foreign key.

    MySQL indexes every foreign key, naming the index after the key (or
    its column); such an index is the backend's doing, not the schema's.
    """
    implicit = set()
    if inspector.dialect.name == 'mysql':
        for foreign_key in inspector.get_foreign_keys(table):
            implicit.add(foreign_key['name'])
            implicit.update(foreign_key['constrained_columns'])
    return {index['name']: tuple(index['column_names'])
            for index in inspector.get_indexes(table)
            if not index.get('unique') and index['name'] not in implicit}


def unique_names(inspector, table: str) -> set[str]:
    return {constraint['name'] for constraint in
            inspector.get_unique_constraints(table)}


def foreign_key_names(inspector, table: str) -> set[str]:
    return {foreign_key['name'] for foreign_key in
            inspector.get_foreign_keys(table)}


def nullable(inspector, table: str) -> dict[str, bool]:
    return {column['name']: column['nullable']
            for column in inspector.get_columns(table)}
