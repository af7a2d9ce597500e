"""The URL half of a cell mapping: stored templates, filled values.

A stored URL may be a template (:mod:`nova_cells.urls.templates`): the
object's ``transport_url`` and ``database_connection`` hold the *filled*
URL, as Nova's do, while the stored template is remembered and is what a
save writes back. A template this node cannot fill stays as it is (never
``None``), and targeting the cell is refused naming the variable.

Separate from :mod:`nova_cells.objects.cell_mapping` because it is a
policy of its own (templates in, filled URLs out, templates kept on
write) that the object's fields, versions and database halves do not
depend on. :class:`CellURLs` is mixed into
:class:`~nova_cells.objects.cell_mapping.CellMapping`.
"""

import logging
from typing import Any

from nova_cells import urls

__all__ = [
    'CellURLs',
    'FilledCell',
    'URL_FIELDS',
]

LOG = logging.getLogger(__name__)

URL_FIELDS = ('transport_url', 'database_connection')


def _format_url(field: str, url: str | None) -> str | None:
    rendering = urls.render_field(field, url)
    if not rendering.complete:
        # Reasons name variables and options, never their values.
        LOG.error('Cannot fill the %s template %s: %s', field,
                  urls.mask_url(url), '; '.join(
                      reason for _, reason in rendering.missing))
    return rendering.url


class CellURLs:
    """Template handling for an object with the :data:`URL_FIELDS`."""

    def __init__(self, context: Any = None, **kwargs: Any) -> None:
        super().__init__(context, **kwargs)
        # Stored templates by field, and the fields left unfilled; set by
        # _fill_urls on load, empty for a mapping built in memory.
        self._url_templates: dict[str, str] = {}
        self._unfilled: dict[str, urls.Rendering] = {}

    def stored_url(self, field: str) -> str:
        """The value stored for ``field``: its template if it was one."""
        return self._url_templates.get(field, getattr(self, field))

    @property
    def unfilled_url_fields(self) -> dict[str, str]:
        """Fields whose template could not be filled, with the reason."""
        return {field: '; '.join(reason for _, reason in rendering.missing)
                for field, rendering in self._unfilled.items()}

    def _fill_urls(self, db_row: Any) -> None:
        for field in URL_FIELDS:
            stored = db_row[field]
            if not urls.is_template(stored):
                self._url_templates.pop(field, None)
                self._unfilled.pop(field, None)
                setattr(self, field, stored)
                continue
            rendering = urls.render_field(field, stored)
            self._url_templates[field] = stored
            if rendering.complete:
                self._unfilled.pop(field, None)
            else:
                self._unfilled[field] = rendering
            setattr(self, field, rendering.url)

    # Nova's names: ``nova-manage`` fills a URL given on its command line
    # with ``CellMapping.format_mq_url(url)`` / ``format_db_url(url)``.
    # The same filling as a loaded cell's; as in Nova, a template this node
    # cannot fill comes back as it was (and the reason is logged).
    @staticmethod
    def format_db_url(url):
        """``url`` filled from ``[database] connection``."""
        return _format_url('database_connection', url)

    @staticmethod
    def format_mq_url(url):
        """``url`` filled from ``[DEFAULT] transport_url``."""
        return _format_url('transport_url', url)

    def _urls_for_write(self, updates: dict) -> dict:
        """``updates`` with each URL as it must be stored.

        Assigning back the filled value of a loaded template (for example
        ``cell.transport_url = cell.transport_url``) keeps the template, so
        a save never replaces a template by one node's credentials.
        """
        for field in URL_FIELDS:
            template = self._url_templates.get(field)
            if field in updates and template is not None:
                filled = urls.render_field(field, template)
                if filled.complete and updates[field] == filled.url:
                    updates[field] = template
        return updates

    def _refuse_unfilled(self) -> None:
        """:raises CellURLTemplateError: a template loaded with this
        mapping could not be filled (so ``target()`` refuses at once)."""
        for field, rendering in self._unfilled.items():
            raise urls.template_error(field, rendering, self.identity)


class FilledCell:
    """A cell mapping's view with its URL templates filled, for targeting
    a mapping that was built in memory or received rather than loaded."""

    def __init__(self, cell_mapping: Any):
        self.uuid = cell_mapping.uuid
        self.identity = cell_mapping.identity
        for field in URL_FIELDS:
            setattr(self, field, urls.fill(
                field, getattr(cell_mapping, field),
                cell=cell_mapping.identity))
