"""The documentation keeps up with the code, without building it.

``doc/source/operator/commands.rst`` must have a section for every
``nova-cells-manage`` action registered in :data:`nova_cells.cmd.manage.
CATEGORIES`, naming each of its options, with a table of exactly the exit
codes the action declares (which its help text prints), and no section for
an action that does not exist. The generated
sample configuration (included in the operator guide) must list every
option. A new command, option or exit code therefore fails here until it
is documented.
"""

import pathlib
import re

import testtools

from nova_cells.cmd import manage
from nova_cells.conf import opts as conf_opts

REPO = pathlib.Path(__file__).resolve().parents[3]
COMMANDS_PAGE = REPO / 'doc' / 'source' / 'operator' / 'commands.rst'
SAMPLE_CONFIG = REPO / 'etc' / 'nova_cells.conf.sample'

# A section title: a line, then a line of one repeated punctuation mark.
_HEADING = re.compile(r'^(\S[^\n]*)\n([=\-~^"])\2+$', re.MULTILINE)
# Exit codes an action's help text promises: "Exit 0 ...; 1 ...; 127 ...".
_HELP_CODES = re.compile(r'(?:\bExit |; )(\d+)\b')
# A row of an exit code table in a section: the code, then its meaning.
_TABLE_CODE = re.compile(r'^(\d+)\s{2,}\S', re.MULTILINE)


def _sections(text: str) -> dict[str, str]:
    """Section title -> the text up to the next title, at any level."""
    headings = list(_HEADING.finditer(text))
    sections = {}
    for index, heading in enumerate(headings):
        end = (headings[index + 1].start() if index + 1 < len(headings)
               else len(text))
        sections[heading.group(1).strip()] = text[heading.end():end]
    return sections


def _actions():
    for category in manage.CATEGORIES:
        for action in category.actions:
            yield category, action


class TestCommandsPage(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sections = _sections(COMMANDS_PAGE.read_text(encoding='utf-8'))

    def section(self, category, action):
        title = '%s %s' % (category.name, action.name)
        self.assertIn(title, sorted(self.sections),
                      'document "nova-cells-manage %s" in %s under a '
                      'section titled "%s"' % (title, COMMANDS_PAGE, title))
        return self.sections[title]

    def test_every_action_has_a_section_with_its_synopsis(self):
        for category, action in _actions():
            self.assertIn('nova-cells-manage %s %s' % (category.name,
                                                       action.name),
                          self.section(category, action))

    def test_every_option_is_named_in_its_actions_section(self):
        for category, action in _actions():
            text = self.section(category, action)
            for argument in action.arguments:
                shown = (argument.flags[0] if argument.flags else
                         argument.options.get('metavar',
                                              argument.name.upper()))
                self.assertIn(shown, text, '%s %s does not document %s' % (
                    category.name, action.name, shown))

    def test_every_exit_code_in_the_help_is_in_the_table(self):
        for category, action in _actions():
            promised = set(_HELP_CODES.findall(action.help))
            documented = set(_TABLE_CODE.findall(
                self.section(category, action)))
            self.assertEqual(set(), promised - documented,
                             '%s %s: exit codes missing from its table' % (
                                 category.name, action.name))

    def test_the_table_has_exactly_the_declared_exit_codes(self):
        for category, action in _actions():
            declared = {str(code.code) for code in action.exit_codes}
            self.assertIn('0', declared, '%s %s declares no exit code 0' % (
                category.name, action.name))
            documented = set(_TABLE_CODE.findall(
                self.section(category, action)))
            self.assertEqual(declared, documented,
                             '%s %s: the exit code table of %s differs '
                             'from the declared codes' % (
                                 category.name, action.name, COMMANDS_PAGE))

    def test_no_section_documents_an_action_that_does_not_exist(self):
        registered = {'%s %s' % (category.name, action.name)
                      for category, action in _actions()}
        categories = {category.name for category in manage.CATEGORIES}
        for title in self.sections:
            words = title.split()
            if len(words) == 2 and words[0] in categories:
                self.assertIn(title, registered)


class TestSampleConfig(testtools.TestCase):

    def test_every_option_is_in_the_generated_sample(self):
        """``make sample-config`` regenerates it after an option change."""
        sample = _sections_of_ini(SAMPLE_CONFIG.read_text(encoding='utf-8'))
        for group, options in conf_opts.list_opts():
            name = getattr(group, 'name', group) or 'DEFAULT'
            self.assertIn(name, sample)
            for option in options:
                self.assertRegex(sample[name],
                                 r'(?m)^#%s =( |$)' % re.escape(option.dest),
                                 'run make sample-config')


def _sections_of_ini(text: str) -> dict[str, str]:
    parts = re.split(r'(?m)^\[([^\]]+)\]$', text)
    return {parts[index]: parts[index + 1]
            for index in range(1, len(parts) - 1, 2)}
