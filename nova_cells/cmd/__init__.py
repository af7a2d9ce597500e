"""The ``nova-cells-manage`` command line (entry point: manage.main).

An operator's stderr is for the one line that says what failed: the
deprecation notice eventlet prints on import (it arrives through
oslo.messaging and oslo.service, which this tool never runs) would bury it.
"""

import warnings

__all__: list[str] = []

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
