"""The ``nova-cells-manage`` command line (entry point: manage.main).

Eventlet arrives on import through oslo.messaging and oslo.service, which
these commands never run:

* its deprecation notice would bury, on an operator's stderr, the one line
  that says what failed;
* its green DNS resolver (dnspython, loaded at import) costs about a
  tenth of every command's start-up and is never used: the commands
  resolve names through the drivers' own plain sockets. Set before
  anything imports eventlet; an operator's own setting is kept.
"""

import os
import warnings

os.environ.setdefault('EVENTLET_NO_GREENDNS', 'yes')

__all__: list[str] = []

warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
