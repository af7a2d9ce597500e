"""nova_cells: cells v2 mapping and per-call cell routing.

The API database maps cells, hosts and instances; a RequestContext targeted
at a cell (:func:`nova_cells.context.target_cell`) routes every database
query and RPC message made with it to that cell.
"""

__all__: list[str] = []
