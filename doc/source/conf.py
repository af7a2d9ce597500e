"""Sphinx configuration for the nova_cells documentation.

Build with ``make docs`` (``sphinx-build -W``: a warning fails the build).
The theme is Sphinx's default (alabaster) and no extension fetches
anything, so the build needs no network.
"""

project = 'nova_cells'
author = 'nova_cells developers'
copyright = 'nova_cells developers'  # noqa: A001 - Sphinx's setting name

extensions = []

root_doc = 'index'
language = 'en'
exclude_patterns = []
# Literal blocks are highlighted as Python when they parse as Python, and
# left plain otherwise (shell sessions, configuration), without a warning.
highlight_language = 'default'
pygments_style = 'sphinx'

html_theme = 'alabaster'
html_theme_options = {
    'description': 'Cells v2 mappings and per-call cell routing',
    'fixed_sidebar': False,
    'show_powered_by': False,
}
html_title = 'nova_cells'
html_show_sourcelink = False
html_copy_source = False
