"""Nova 34's "show instance" path, timed in Nova's own process (JSON out).

Run by Nova's interpreter (its virtualenv, see
``nova_cells/testing/novaenv.py``), never by nova_cells': both projects
register objects in the ``nova`` namespace. ``benchmarks/nova34.py``
starts it; it is not a benchmark of its own (``run.py`` runs ``bench_*``
only).

Arguments: a nova.conf naming the API database (``[api_database]``).
It speaks one JSON document a line. The first line in is the payload:
``api_url``; ``cells``, each ``{uuid, name, url, instances: [uuid...]}``;
``extra_mappings`` (instance mappings without an instance row, spread over
the cells, as a large deployment's API database holds); ``warmup`` (uuids
shown untimed first); ``functions`` (which timings below, all when empty).
It makes the databases Nova's way (its models' schema in the empty
databases the caller made; on SQLite made once and copied), writes the
rows, warms up and answers ``{"ready": ...}``. Then each line in is
``{"block": [uuid...]}``: every function runs over the block in turn and
the answer is their samples in microseconds. The caller times its own
path between two blocks, so both sides share the machine's load of the
moment. End of input ends it. Answers are prefixed with ``NOVA34 ``
(anything else on stdout is Nova's).

The timings:

* ``show_db_api``: ``InstanceMapping.get_by_instance_uuid`` ->
  ``nova.context.target_cell`` -> ``nova.db.main.api.instance_get_by_
  uuid`` with no joined columns (the leanest instance read Nova's DB API
  has; it still joins the security groups and the info cache);
* ``show_object``: the same, reading with ``objects.Instance.get_by_uuid``
  (default attributes), as Nova's API does;
* ``instance_mapping_get``: the API-database half alone;
* ``targeted_db_api_get``: the cell read alone, through a context already
  targeted at the instance's cell.
"""

import json
import random
import shutil
import sys
import time
import uuid as uuid_lib
from importlib import metadata

PREFIX = 'NOVA34 '


def _schema_and_rows(payload):
    import sqlalchemy as sa
    from nova.db.api import models as api_models
    from nova.db.main import models as main_models

    def write(url, base, rows_by_table):
        engine = sa.create_engine(url)
        try:
            base.metadata.create_all(engine)
            with engine.begin() as connection:
                for table, rows in rows_by_table:
                    if rows:
                        connection.execute(sa.insert(table), rows)
        finally:
            engine.dispose()

    cells = payload['cells']
    mappings = []
    template = None
    for index, cell in enumerate(cells):
        if cell['url'].startswith('sqlite:///'):
            # About a second for Nova's hundred tables: made once.
            path = cell['url'][len('sqlite:///'):]
            if template is not None:
                shutil.copyfile(template, path)
            else:
                write(cell['url'], main_models.BASE, [])
                template = path + '.template'
                shutil.copyfile(path, template)
        write(cell['url'], main_models.BASE, [
            (main_models.Instance.__table__,
             [{'uuid': uuid, 'project_id': 'bench', 'user_id': 'bench',
               'deleted': 0} for uuid in cell['instances']]),
            # Every instance Nova boots has an info cache row.
            (main_models.InstanceInfoCache.__table__,
             [{'instance_uuid': uuid, 'network_info': '[]', 'deleted': 0}
              for uuid in cell['instances']])])
        mappings += [{'instance_uuid': uuid, 'cell_id': index + 1,
                      'project_id': 'bench', 'user_id': 'bench',
                      'queued_for_delete': False}
                     for uuid in cell['instances']]
    randomizer = random.Random(34)
    mappings += [{'instance_uuid': str(uuid_lib.UUID(
                      int=randomizer.getrandbits(128), version=4)),
                  'cell_id': index % len(cells) + 1,
                  'project_id': 'project%d' % (index % 50),
                  'user_id': 'user%d' % (index % 500),
                  'queued_for_delete': False}
                 for index in range(payload.get('extra_mappings', 0))]
    write(payload['api_url'], api_models.BASE, [
        (api_models.CellMapping.__table__,
         [{'id': index + 1, 'uuid': cell['uuid'], 'name': cell['name'],
           'transport_url': 'none:///', 'database_connection': cell['url'],
           'disabled': False} for index, cell in enumerate(cells)]),
        (api_models.InstanceMapping.__table__, mappings)])


def _answer(document):
    sys.stdout.write(PREFIX + json.dumps(document) + '\n')
    sys.stdout.flush()


def _serve(functions):
    """Time each function over each block asked for, until end of
    input."""
    clock = time.perf_counter_ns
    for line in sys.stdin:
        block = json.loads(line)['block']
        samples = {}
        for name, function in functions.items():
            samples[name] = times = []
            for uuid in block:
                began = clock()
                function(uuid)
                times.append((clock() - began) / 1000.0)
        _answer(samples)


def main():
    payload = json.loads(sys.stdin.readline())
    started = time.monotonic()
    _schema_and_rows(payload)
    built = time.monotonic() - started

    from nova import config
    from nova import context
    from nova import objects
    from nova.db.main import api as db

    objects.register_all()
    config.parse_args(['nova-bench', '--config-file', sys.argv[1]])
    ctxt = context.get_admin_context()
    targeted = {}
    for cell in payload['cells']:
        mapping = objects.CellMapping.get_by_uuid(ctxt, cell['uuid'])
        with context.target_cell(ctxt, mapping) as cell_context:
            targeted.update(dict.fromkeys(cell['instances'], cell_context))

    def show_object(uuid):
        mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
        with context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
            return objects.Instance.get_by_uuid(cctxt, uuid)

    def show_db_api(uuid):
        mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
        with context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
            return db.instance_get_by_uuid(cctxt, uuid, columns_to_join=[])

    def mapping_get(uuid):
        return objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)

    def targeted_get(uuid):
        return db.instance_get_by_uuid(targeted[uuid], uuid,
                                       columns_to_join=[])

    functions = {'show_db_api': show_db_api, 'show_object': show_object,
                 'instance_mapping_get': mapping_get,
                 'targeted_db_api_get': targeted_get}
    wanted = payload.get('functions') or list(functions)
    functions = {name: functions[name] for name in wanted}
    # One instance of every cell first: each cell's engine is made once.
    warmup = [cell['instances'][0] for cell in payload['cells']
              if cell['instances']] + payload['warmup']
    for function in functions.values():
        for uuid in warmup:
            function(uuid)
    _answer({'ready': True, 'nova_version': metadata.version('nova'),
             'seconds_building': round(built, 1),
             'seconds_starting': round(time.monotonic() - started, 1)})
    _serve(functions)


if __name__ == '__main__':
    main()
