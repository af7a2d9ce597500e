"""What the tests against real Nova share: Nova's environment, config
files both projects read, and nova_cells pointed at the same databases."""

import os

import fixtures

from nova_cells import connections
from nova_cells import context
from nova_cells.tests import base
from nova_cells.tests.functional.with_nova import novaenv

#: Nova 34's heads and an older revision of each of its alembic lines.
NOVA_API_HEAD = 'cdeec0c85668'
NOVA_API_FIRST = 'd67eeaabee36'
NOVA_MAIN_HEAD = 'ab450ba04102'
NOVA_MAIN_FIRST = '8f2f1571d55b'
#: Both projects' [DEFAULT] transport_url: templates fill from it. Nothing
#: connects to it.
TRANSPORT_URL = 'rabbit://guest:guest@mq0:5672/'


class NovaTestCase(base.TestCase):
    """Nova 34 at hand (built or skipped, see :mod:`.novaenv`), and SQLite
    files in a temporary directory that both projects' configs name."""

    def setUp(self):
        super().setUp()
        self.nova = novaenv.nova_environment()
        self.directory = self.useFixture(fixtures.TempDir()).path
        self.api_url = self.sqlite_url('api')
        self.main_url = self.sqlite_url('main')
        self.nova_conf = self.write_nova_conf('nova.conf', self.main_url)
        self.flags(group='api_database', connection=self.api_url)
        self.flags(group='database', connection=self.main_url)
        self.flags(transport_url=TRANSPORT_URL)
        registry = connections.get_registry()
        registry.configure(self.conf)
        self.addCleanup(registry.dispose_all)
        self.context = context.get_admin_context()

    def sqlite_url(self, name: str) -> str:
        return 'sqlite:///' + os.path.join(self.directory, name + '.sqlite')

    def write_nova_conf(self, name: str, main_url: str) -> str:
        """A nova.conf on the API database and ``main_url``; nova_cells
        reads the same options (see the Nova fork guide)."""
        path = os.path.join(self.directory, name)
        with open(path, 'w') as conf:
            conf.write('[DEFAULT]\ntransport_url = %s\n'
                       '[api_database]\nconnection = %s\n'
                       '[database]\nconnection = %s\n' % (
                           TRANSPORT_URL, self.api_url, main_url))
        return path

    def nova_manage(self, *arguments, conf=None):
        """Run ``nova-manage``; it must succeed."""
        result = self.nova.manage(conf or self.nova_conf, *arguments)
        self.assertEqual(0, result.returncode, 'nova-manage %s:\n%s\n%s' % (
            ' '.join(arguments), result.stdout, result.stderr[-3000:]))
        return result
