"""Nova reads the API database: cells, instance and host mappings, and
the list queries Nova's services and nova-manage run."""

import novaside
import objectdata
from nova import objects

ctxt, payload = novaside.start()
cells = objects.CellMappingList.get_all(ctxt)
result = {
    'cells': [objectdata.fields_of(cell) for cell in cells],
    'enabled_cells': [cell.uuid for cell in
                      objects.CellMappingList.get_by_disabled(ctxt, False)],
    'disabled_cells': [cell.uuid for cell in
                       objects.CellMappingList.get_by_disabled(ctxt, True)],
    'cells_by_project': [
        cell.uuid for cell in objects.CellMappingList.get_by_project_id(
            ctxt, payload['project_id'])],
    'cell_by_uuid': {
        uuid: objectdata.fields_of(objects.CellMapping.get_by_uuid(ctxt, uuid))
        for uuid in payload['cell_uuids']},
    'instance_mappings': {
        uuid: objectdata.fields_of(
            objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid))
        for uuid in payload['instance_uuids']},
    'instance_mappings_by_project': sorted(
        mapping.instance_uuid for mapping in
        objects.InstanceMappingList.get_by_project_id(
            ctxt, payload['project_id'])),
    'instance_mappings_by_cell': {
        str(cell.id): sorted(
            mapping.instance_uuid for mapping in
            objects.InstanceMappingList.get_by_cell_id(ctxt, cell.id))
        for cell in cells},
    'instance_mappings_by_uuids': sorted(
        mapping.instance_uuid for mapping in
        objects.InstanceMappingList.get_by_instance_uuids(
            ctxt, payload['instance_uuids'])),
    'instance_counts': objects.InstanceMappingList.get_counts(
        ctxt, payload['project_id']),
    'host_mappings': {
        host: objectdata.fields_of(objects.HostMapping.get_by_host(ctxt, host))
        for host in payload['hosts']},
    'all_hosts': sorted(mapping.host for mapping in
                        objects.HostMappingList.get_all(ctxt)),
    'hosts_by_cell': {
        str(cell.id): sorted(
            mapping.host for mapping in
            objects.HostMappingList.get_by_cell_id(ctxt, cell.id))
        for cell in cells},
}
novaside.finish(result)
