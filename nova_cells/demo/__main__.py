"""``python -m nova_cells.demo``: see :mod:`nova_cells.demo`."""

import sys
import warnings

# eventlet, imported by oslo.messaging's dependencies, announces its own
# deprecation on stderr at import time; the demo's output is for people.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

from nova_cells.demo import scenario  # noqa: E402

if __name__ == '__main__':
    sys.exit(scenario.main())
