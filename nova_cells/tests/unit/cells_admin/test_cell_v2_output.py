"""The cell_v2 command module's pure helpers."""

from nova_cells.cmd import cell_v2
from nova_cells.cmd import common
from nova_cells.tests.fixtures import base


class TestTable(base.TestCase):

    def test_layout_matches_nova(self):
        self.assertEqual(
            '+------+-----+\n'
            '| Name | N   |\n'
            '+------+-----+\n'
            '| a    | 100 |\n'
            '+------+-----+',
            common.table(['Name', 'N'], [['a', 100]]))

    def test_every_action_documents_its_exit_codes(self):
        for action in cell_v2.CATEGORY.actions:
            self.assertIn(action.name, cell_v2.__doc__)
            if action.name != 'list_cells':
                self.assertIn('Exit 0', action.help, action.name)
