"""What every nova_side script shares: Nova configured from a file.

These scripts run under Nova's own interpreter (the Nova virtualenv), never
under nova_cells': each starts, reads a JSON payload on stdin, does what
Nova would, and prints one JSON document on its last line of stdout.
"""

import json
import sys

import objectdata


def start():
    """Nova's objects registered and both databases configured from the
    config file named by ``argv[1]``; returns (admin context, payload)."""
    from nova import config
    from nova import context
    from nova import objects

    objects.register_all()
    # Nova's own start-up: options, RPC defaults and both databases.
    config.parse_args(['nova-side', '--config-file', sys.argv[1]])
    return context.get_admin_context(), json.loads(sys.stdin.read() or 'null')


def finish(result):
    print(json.dumps(result, default=objectdata.plain))
