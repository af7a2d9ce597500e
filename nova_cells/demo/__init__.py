"""The main job: a small cells deployment built and exercised end to end.

``make demo`` (``python -m nova_cells.demo [--config-file F]``) creates the
API database, cell0 and two cells, migrates every cell's main database,
adds compute hosts and a few hundred instances, discovers the hosts, maps
the instances, and then shows a request finding its cell: ``list_cells``,
``verify_instance``, a routed "show instance", a page of instances merged
across cells, a scatter-gather count per cell and one RPC round trip per
cell. Running it again finds everything in place and creates nothing.

With no config file everything is embedded: SQLite files under
``state_path`` and in-process ``fake://`` message buses. A config file
pointing ``[api_database]``/``[database]`` at MySQL or PostgreSQL and
``[DEFAULT] transport_url`` at RabbitMQ runs the same scenario there (see
``etc/demo/*.conf``).

* :mod:`~nova_cells.demo.scenario`: the steps in order, and ``main``;
* :mod:`~nova_cells.demo.build`: the deployment's fixed layout, made once;
* :mod:`~nova_cells.demo.environment`: cell URLs derived from the config,
  databases and RabbitMQ virtual hosts created when missing;
* :mod:`~nova_cells.demo.report`: the read-only sections.
"""

__all__: list[str] = []
