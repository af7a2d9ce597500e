"""A fresh clone builds the same gates: the tools whose every finding
fails ``make test`` / ``make docs`` are pinned, and ``make`` installs the
database drivers as the package's extras."""

import configparser
import os
import re

import testtools

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))


def _read(name: str) -> str:
    with open(os.path.join(_REPO_ROOT, name)) as handle:
        return handle.read()


class TestPins(testtools.TestCase):

    def test_gate_tools_are_pinned_exactly(self):
        pins = dict(re.findall(r'^([A-Za-z0-9_.-]+)==(\S+)$',
                               _read('constraints.txt'), re.M))
        self.assertIn('ruff', pins)
        self.assertIn('sphinx', pins)

    def test_every_make_install_uses_the_constraints(self):
        makefile = _read('Makefile')
        self.assertIn('-c constraints.txt', makefile)
        for line in makefile.splitlines():
            if ('pip install' in line and '--upgrade pip' not in line and
                    'PIP_INSTALL :=' not in line):
                self.fail('pip install without the constraints: %s' % line)
        self.assertIn('constraints.txt', makefile.split('$(STAMP):')[1]
                      .splitlines()[0])

    def test_drivers_are_extras_installed_by_make(self):
        setup = configparser.ConfigParser()
        setup.read_string(_read('setup.cfg'))
        extras = setup['extras']
        self.assertIn('PyMySQL', extras['mysql'])
        self.assertIn('psycopg2', extras['postgresql'])
        requirements = _read('requirements.txt')
        self.assertNotIn('PyMySQL', requirements)
        self.assertNotIn('psycopg2', requirements)
        self.assertIn("-e '.[$(EXTRAS)]'", _read('Makefile'))
        self.assertIn('EXTRAS := mysql,postgresql', _read('Makefile'))
