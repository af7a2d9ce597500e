"""Every public module says what it offers: its ``__all__`` lists each
public name it defines, and only names it has.

A name defined at module level without a leading underscore is public;
one another module may import. ``LOG`` (every module's logger) is not
part of any module's interface.
"""

import ast
import importlib
import os

import testtools

import nova_cells

_PACKAGE_ROOT = os.path.dirname(os.path.abspath(nova_cells.__file__))
_NOT_INTERFACE = {'LOG'}


def _public_modules():
    """(dotted name, path) of every module but the tests, the migration
    scripts and modules private by name."""
    for directory, subdirectories, files in os.walk(_PACKAGE_ROOT):
        relative = os.path.relpath(directory, os.path.dirname(_PACKAGE_ROOT))
        parts = relative.split(os.sep)
        if 'tests' in parts or any(part.endswith('migrations')
                                   for part in parts):
            subdirectories[:] = []
            continue
        for name in sorted(files):
            if not name.endswith('.py') or (
                    name.startswith('_') and name != '__init__.py'):
                continue
            module = parts + ([] if name == '__init__.py'
                              else [name[:-3]])
            yield '.'.join(module), os.path.join(directory, name)


def _defined_public_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elements = (target.elts if isinstance(target, ast.Tuple)
                            else [target])
                names.update(element.id for element in elements
                             if isinstance(element, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target,
                                                            ast.Name):
            names.add(node.target.id)
    return {name for name in names
            if not name.startswith('_') and name not in _NOT_INTERFACE}


class TestPublicNames(testtools.TestCase):

    def test_modules_are_found(self):
        modules = dict(_public_modules())
        self.assertIn('nova_cells.context', modules)
        self.assertNotIn('nova_cells.tests.unit.test_public_names', modules)

    def test_every_public_name_is_in_all(self):
        problems = []
        for module_name, path in _public_modules():
            with open(path) as handle:
                defined = _defined_public_names(ast.parse(handle.read()))
            module = importlib.import_module(module_name)
            declared = getattr(module, '__all__', None)
            if declared is None:
                if defined:
                    problems.append('%s has no __all__' % module_name)
                continue
            missing = defined - set(declared)
            if missing:
                problems.append('%s: not in __all__: %s' % (
                    module_name, ', '.join(sorted(missing))))
            unknown = [name for name in declared
                       if not hasattr(module, name)]
            if unknown:
                problems.append('%s: __all__ names what it lacks: %s' % (
                    module_name, ', '.join(unknown)))
            if len(set(declared)) != len(declared):
                problems.append('%s: __all__ repeats a name' % module_name)
        self.assertEqual([], problems)
