"""Configuration: defaults an operator relies on without a config file."""

import os
import subprocess
import sys

from nova_cells.conf import database as database_conf
from nova_cells.conf import opts
from nova_cells.tests.fixtures import base


class TestDatabaseGroups(base.TestCase):

    def test_defaults_are_sqlite_files_under_state_path(self):
        state = self.conf.state_path
        self.assertEqual(
            'sqlite:///' + os.path.join(state, 'nova_cells_api.sqlite'),
            self.conf.api_database.connection)
        self.assertEqual(
            'sqlite:///' + os.path.join(state, 'nova_cells.sqlite'),
            self.conf.database.connection)

    def test_groups_do_not_share_option_objects(self):
        api_ids = {id(opt) for opt in database_conf.api_db_opts}
        main_ids = {id(opt) for opt in database_conf.db_opts}
        self.assertFalse(api_ids & main_ids)
        self.flags(group='api_database', connection='sqlite:///api.db')
        self.assertNotEqual('sqlite:///api.db', self.conf.database.connection)

    def test_connections_are_secret(self):
        for group in ('api_database', 'database'):
            for name in ('connection', 'slave_connection'):
                opt = self.conf._get_opt_info(name, group)['opt']
                self.assertTrue(opt.secret, '%s.%s' % (group, name))

    def test_list_opts_names_every_group(self):
        groups = {getattr(group, 'name', group) for group, _ in
                  opts.list_opts()}
        self.assertTrue({'DEFAULT', 'api_database', 'database',
                         'cells'} <= groups)


class TestStatePathDefault(base.TestCase):

    def _default_in_subprocess(self, env):
        code = ('from nova_cells.conf import CONF; CONF([], '
                'default_config_files=[]); print(CONF.state_path)')
        return subprocess.check_output(
            [sys.executable, '-c', code], env=env, text=True).strip()

    def test_environment_overrides_state_path(self):
        env = dict(os.environ, NOVA_CELLS_STATE_PATH='/tmp/nc-state')
        self.assertEqual('/tmp/nc-state', self._default_in_subprocess(env))

    def test_xdg_state_home_is_used(self):
        env = dict(os.environ, XDG_STATE_HOME='/tmp/xdg')
        env.pop('NOVA_CELLS_STATE_PATH', None)
        self.assertEqual('/tmp/xdg/nova_cells',
                         self._default_in_subprocess(env))
