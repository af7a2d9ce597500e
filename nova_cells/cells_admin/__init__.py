"""What the operator commands (``nova-cells-manage cell_v2``) do.

The business logic of every ``cell_v2`` command lives here, apart from the
command line (:mod:`nova_cells.cmd.cell_v2` only parses, calls, prints and
turns exceptions into exit codes) and apart from the mapping objects (which
only load and store one thing each):

* :mod:`~nova_cells.cells_admin.cells`: map_cell0, create, update, delete
  and list cells (:mod:`~nova_cells.cells_admin.cell_deletion`: delete;
  :mod:`~nova_cells.cells_admin.url_sharing`: one database and one queue
  per cell);
* :mod:`~nova_cells.cells_admin.hosts`: discover, list and delete hosts;
* :mod:`~nova_cells.cells_admin.simple_setup`: map_cell_and_hosts and
  simple_cell_setup;
* :mod:`~nova_cells.cells_admin.instances`: map_instances (with its resume
  point) and verify_instance;
* :mod:`~nova_cells.cells_admin.database_sync`: ``db sync --all-cells``.

They read and write the API database only through the mapping objects and
the DB API (:mod:`nova_cells.db.sqlalchemy.mapping_admin` for what no one
object owns), and redo a unit of work that lost a race with a concurrent
run through one policy (:mod:`~nova_cells.cells_admin.retry`).

Functions take an admin :class:`~nova_cells.context.RequestContext`, raise
:mod:`nova_cells.exception` errors for anything the operator must hear
about, validate every input before they write, and never put a password in
a message.
"""

__all__: list[str] = []
