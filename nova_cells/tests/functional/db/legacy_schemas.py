"""Databases as Nova's sqlalchemy-migrate era left them, built by raw DDL.

Written by hand, not with this project's migrations, so that adoption is
tested against what Nova created: unnamed foreign keys (each backend names
them its own way), Nova's plain indexes, tables and columns this project
does not own, a ``migrate_version`` row. ``omit`` leaves columns out to
build a database that must be refused.
"""

import dataclasses
import re

import sqlalchemy as sa

_TYPES = {
    'sqlite': dict(pk='INTEGER NOT NULL', datetime='DATETIME',
                   boolean='BOOLEAN', mediumtext='TEXT', suffix=''),
    'mysql': dict(pk='INT(11) NOT NULL AUTO_INCREMENT', datetime='DATETIME',
                  boolean='TINYINT(1)', mediumtext='MEDIUMTEXT',
                  suffix=' ENGINE=InnoDB DEFAULT CHARSET=utf8'),
    'postgresql': dict(pk='SERIAL NOT NULL',
                       datetime='TIMESTAMP WITHOUT TIME ZONE',
                       boolean='BOOLEAN', mediumtext='TEXT', suffix=''),
}


@dataclasses.dataclass
class Table:
    name: str
    columns: list[tuple[str, str]]
    constraints: list[str]
    indexes: list[tuple[str, tuple[str, ...], bool]] = dataclasses.field(
        default_factory=list)

    def statements(self, dialect: str, omit: set,
                   inline_unique: bool = False) -> list[str]:
        """``inline_unique`` declares each one-column unique constraint
        on its column (``host VARCHAR(255) NOT NULL UNIQUE``)."""
        types = _TYPES[dialect]
        quote = '`' if dialect == 'mysql' else '"'
        constraints = list(self.constraints)
        inline = set()
        if inline_unique:
            for constraint in self.constraints:
                match = _ONE_COLUMN_UNIQUE.search(constraint)
                if match:
                    inline.add(match.group(1))
                    constraints.remove(constraint)
        lines = ['%s%s%s %s%s' % (quote, name, quote, ddl.format(**types),
                                  ' UNIQUE' if name in inline else '')
                 for name, ddl in self.columns
                 if (self.name, name) not in omit]
        lines += [constraint for constraint in constraints
                  if not any('(%s)' % column in constraint or
                             '(%s,' % column in constraint
                             for table, column in omit
                             if table == self.name)]
        statements = ['CREATE TABLE %s (%s)%s' % (
            self.name, ', '.join(lines), types['suffix'])]
        for name, columns, unique in self.indexes:
            if any((self.name, column) in omit for column in columns):
                continue
            statements.append('CREATE %sINDEX %s ON %s (%s)' % (
                'UNIQUE ' if unique else '', name, self.name,
                ', '.join('%s%s%s' % (quote, column, quote)
                          for column in columns)))
        return statements


_ONE_COLUMN_UNIQUE = re.compile(r'UNIQUE \((\w+)\)$')

_TIMESTAMPS = [('created_at', '{datetime}'), ('updated_at', '{datetime}')]
_SOFT_DELETE = [('deleted_at', '{datetime}'), ('deleted', 'INTEGER')]


_MIGRATE_VERSION_DDL = (
    'CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, '
    'repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))')
_MIGRATE_VERSION = sa.table('migrate_version', sa.column('repository_id'),
                            sa.column('repository_path'),
                            sa.column('version'))


API_TABLES = [
    Table('cell_mappings', _TIMESTAMPS + [
        ('id', '{pk}'), ('uuid', 'VARCHAR(36) NOT NULL'),
        ('name', 'VARCHAR(255)'), ('transport_url', 'TEXT'),
        ('database_connection', 'TEXT'), ('disabled', '{boolean}')],
        ['PRIMARY KEY (id)',
         'CONSTRAINT uniq_cell_mappings0uuid UNIQUE (uuid)'],
        [('uuid_idx', ('uuid',), False)]),
    Table('host_mappings', _TIMESTAMPS + [
        ('id', '{pk}'), ('cell_id', 'INTEGER NOT NULL'),
        ('host', 'VARCHAR(255) NOT NULL')],
        ['PRIMARY KEY (id)',
         'CONSTRAINT uniq_host_mappings0host UNIQUE (host)',
         'FOREIGN KEY(cell_id) REFERENCES cell_mappings (id)'],
        [('host_idx', ('host',), False)]),
    Table('instance_mappings', _TIMESTAMPS + [
        ('id', '{pk}'), ('instance_uuid', 'VARCHAR(36) NOT NULL'),
        ('cell_id', 'INTEGER'), ('project_id', 'VARCHAR(255) NOT NULL'),
        ('queued_for_delete', '{boolean}'), ('user_id', 'VARCHAR(255)')],
        ['PRIMARY KEY (id)',
         'CONSTRAINT uniq_instance_mappings0instance_uuid '
         'UNIQUE (instance_uuid)',
         'FOREIGN KEY(cell_id) REFERENCES cell_mappings (id)'],
        [('instance_uuid_idx', ('instance_uuid',), False),
         ('project_id_idx', ('project_id',), False),
         ('instance_mappings_user_id_project_id_idx',
          ('user_id', 'project_id'), False)]),
    # A Nova table this project does not own: adoption must leave it be.
    Table('flavors', _TIMESTAMPS + [
        ('id', '{pk}'), ('name', 'VARCHAR(255) NOT NULL'),
        ('flavorid', 'VARCHAR(255) NOT NULL'), ('memory_mb', 'INTEGER')],
        ['PRIMARY KEY (id)', 'CONSTRAINT uniq_flavors0name UNIQUE (name)']),
]

MAIN_TABLES = [
    Table('instances', _TIMESTAMPS + _SOFT_DELETE + [
        ('id', '{pk}'), ('user_id', 'VARCHAR(255)'),
        ('project_id', 'VARCHAR(255)'), ('reservation_id', 'VARCHAR(255)'),
        ('power_state', 'INTEGER'), ('vm_state', 'VARCHAR(255)'),
        ('memory_mb', 'INTEGER'), ('vcpus', 'INTEGER'),
        ('hostname', 'VARCHAR(255)'), ('host', 'VARCHAR(255)'),
        ('user_data', '{mediumtext}'), ('launched_at', '{datetime}'),
        ('terminated_at', '{datetime}'), ('display_name', 'VARCHAR(255)'),
        ('availability_zone', 'VARCHAR(255)'), ('locked', '{boolean}'),
        ('uuid', 'VARCHAR(36) NOT NULL'), ('task_state', 'VARCHAR(255)'),
        ('node', 'VARCHAR(255)'), ('cleaned', 'INTEGER'),
        ('hidden', '{boolean}')],
        ['PRIMARY KEY (id)', 'CONSTRAINT uniq_instances0uuid UNIQUE (uuid)'],
        [('instances_project_id_deleted_idx', ('project_id', 'deleted'),
          False),
         ('instances_host_node_deleted_idx', ('host', 'node', 'deleted'),
          False),
         ('instances_deleted_created_at_idx', ('deleted', 'created_at'),
          False),
         ('instances_reservation_id_idx', ('reservation_id',), False)]),
    Table('compute_nodes', _TIMESTAMPS + _SOFT_DELETE + [
        ('id', '{pk}'), ('service_id', 'INTEGER'),
        ('vcpus', 'INTEGER NOT NULL'), ('memory_mb', 'INTEGER NOT NULL'),
        ('local_gb', 'INTEGER NOT NULL'), ('vcpus_used', 'INTEGER'),
        ('hypervisor_type', '{mediumtext} NOT NULL'),
        ('hypervisor_version', 'INTEGER'), ('cpu_info', '{mediumtext}'),
        ('hypervisor_hostname', 'VARCHAR(255)'),
        ('host', 'VARCHAR(255)'), ('uuid', 'VARCHAR(36)'),
        ('mapped', 'INTEGER DEFAULT 0')],
        ['PRIMARY KEY (id)',
         'CONSTRAINT uniq_compute_nodes0host0hypervisor_hostname0deleted '
         'UNIQUE (host, hypervisor_hostname, deleted)'],
        [('compute_nodes_uuid_idx', ('uuid',), True)]),
    Table('services', _TIMESTAMPS + _SOFT_DELETE + [
        ('id', '{pk}'), ('host', 'VARCHAR(255)'),
        ('binary', 'VARCHAR(255)'), ('topic', 'VARCHAR(255)'),
        ('report_count', 'INTEGER NOT NULL'), ('disabled', '{boolean}'),
        ('disabled_reason', 'VARCHAR(255)'),
        ('last_seen_up', '{datetime}'), ('forced_down', '{boolean}'),
        ('version', 'INTEGER'), ('uuid', 'VARCHAR(36)')],
        ['PRIMARY KEY (id)',
         'CONSTRAINT uniq_services0host0topic0deleted '
         'UNIQUE (host, topic, deleted)',
         'CONSTRAINT uniq_services0host0binary0deleted '
         'UNIQUE (host, {quote}binary{quote}, deleted)'],
        [('services_uuid_idx', ('uuid',), True),
         ('services_host_idx', ('host',), False)]),
    Table('block_device_mapping', _TIMESTAMPS + _SOFT_DELETE + [
        ('id', '{pk}'), ('instance_uuid', 'VARCHAR(36)'),
        ('device_name', 'VARCHAR(255)')],
        ['PRIMARY KEY (id)']),
]

_LAYOUTS = {
    'api': ('nova_api', 72, API_TABLES),
    'main': ('nova', 402, MAIN_TABLES),
}

API_ROWS = {
    'cell_mappings': [
        dict(id=1, uuid='00000000-0000-0000-0000-000000000000',
             name='cell0', transport_url='none:///',
             database_connection='mysql+pymysql://nova:pw@db/nova_cell0',
             disabled=False),
        dict(id=2, uuid='7e1e2c2a-2f42-4c9a-9b9e-5a3c3c1f9d11',
             name='cell1', transport_url='rabbit://nova:pw@mq:5672/',
             database_connection='mysql+pymysql://nova:pw@db/nova',
             disabled=True),
    ],
    'host_mappings': [
        dict(id=1, cell_id=2, host='compute1'),
        dict(id=2, cell_id=2, host='compute2'),
    ],
    'instance_mappings': [
        dict(id=1, instance_uuid='0b8f4d3a-5b8e-4f2b-9a57-1e0f4a1b2c01',
             cell_id=2, project_id='p1', user_id='u1',
             queued_for_delete=False),
        dict(id=2, instance_uuid='0b8f4d3a-5b8e-4f2b-9a57-1e0f4a1b2c02',
             cell_id=None, project_id='p1', user_id=None,
             queued_for_delete=True),
    ],
    'flavors': [dict(id=1, name='m1.tiny', flavorid='1', memory_mb=512)],
}

MAIN_ROWS = {
    'instances': [
        dict(id=1, uuid='0b8f4d3a-5b8e-4f2b-9a57-1e0f4a1b2c01',
             project_id='p1', user_id='u1', host='compute1',
             node='node1', display_name='vm1', vm_state='active',
             deleted=0, cleaned=0, memory_mb=512, vcpus=1),
    ],
    'compute_nodes': [
        dict(id=1, vcpus=8, memory_mb=16384, local_gb=100,
             hypervisor_type='QEMU', cpu_info='{}',
             hypervisor_hostname='node1', host='compute1',
             uuid='5d1f7e42-8c7e-4f4e-9d0c-2b3b4a5c6d7e', mapped=1,
             deleted=0),
    ],
    'services': [
        dict(id=1, host='compute1', binary='nova-compute',
             topic='compute', report_count=3, disabled=False,
             forced_down=False, version=61,
             uuid='9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', deleted=0),
    ],
    'block_device_mapping': [
        dict(id=1, instance_uuid='0b8f4d3a-5b8e-4f2b-9a57-1e0f4a1b2c01',
             device_name='/dev/vda', deleted=0),
    ],
}

ROWS = {'api': API_ROWS, 'main': MAIN_ROWS}


def create(url: str, database: str, omit: set = frozenset(),
           rows: dict | None = None, inline_unique: bool = False) -> None:
    """Build Nova's legacy ``database`` ('api' or 'main') at ``url``.

    ``omit`` holds ``(table, column)`` pairs to leave out; ``rows`` replaces
    the default rows (:data:`ROWS`), inserted table by table;
    ``inline_unique`` see :meth:`Table.statements`.
    """
    repository_id, version, tables = _LAYOUTS[database]
    rows = ROWS[database] if rows is None else rows
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            dialect = connection.dialect.name
            quote = '`' if dialect == 'mysql' else '"'
            connection.exec_driver_sql(_MIGRATE_VERSION_DDL)
            connection.execute(_MIGRATE_VERSION.insert().values(
                repository_id=repository_id, version=version,
                repository_path='/usr/lib/python3/dist-packages/nova/db/'
                                'migrate_repo'))
            for table in tables:
                for statement in table.statements(dialect, omit,
                                                  inline_unique):
                    connection.exec_driver_sql(
                        statement.replace('{quote}', quote))
            for name, table_rows in rows.items():
                if not table_rows:
                    continue
                columns = [column for column in table_rows[0]
                           if (name, column) not in omit]
                table = sa.table(name, *(sa.column(c) for c in columns))
                connection.execute(table.insert(), [
                    {column: row[column] for column in columns}
                    for row in table_rows])
    finally:
        engine.dispose()
