"""Nova reads the instances of its cell database ([database] connection)
through its objects, and writes one through its DB API."""

import novaside
import objectdata
from nova import objects
from nova.db.main import api as db

ctxt, payload = novaside.start()
created = []
for values in payload.get('create', []):
    created.append(db.instance_create(ctxt, values)['uuid'])
read = {}
reader = ctxt.elevated(read_deleted='yes')
for uuid in payload.get('read', []):
    instance = objects.Instance.get_by_uuid(reader, uuid, expected_attrs=[])
    read[uuid] = objectdata.fields_of(instance, (
        'uuid', 'display_name', 'hostname', 'host', 'node', 'project_id',
        'user_id', 'vm_state', 'task_state', 'power_state', 'deleted',
        'deleted_at', 'availability_zone', 'launched_at', 'created_at',
        'updated_at'))
live = sorted(instance.uuid for instance in
              objects.InstanceList.get_by_filters(
                  ctxt, {'deleted': False}, expected_attrs=[]))
novaside.finish({'created': created, 'read': read, 'live': live})
