"""Hide the passwords in database and transport URLs.

Every place a URL can reach a person (log lines, exceptions, ``repr()``,
CLI output) goes through :func:`mask_url`. It reads the URL through
:func:`~nova_cells.urls.parsing.split_url`, the same split template
filling and identity use, and works host by host, so a multi-host
transport URL such as ``rabbit://u:p1@h1,u:p2@h2/vhost`` keeps every host
and loses every password. It never raises: a URL too broken to parse is
still masked, never echoed back as it was given.

The rules lean towards masking too much, by name and by position:

* a password (after the first ``:`` of the credentials) is masked, even
  with no user name before it (``rabbit://:pw@h``);
* a host part that is no host name with a numeric port (``u@pw:h``, a
  password in the port position, ``user:secret`` with no ``@host``) is
  masked whole: something is misplaced, and it may be the password;
* a string that is no URL at all (no ``scheme://``) is masked whole: it
  may be a bare secret given where a URL belonged;
* a query parameter whose name says password, secret, token or key
  (``password``, ``passwd``, ``pw``, ``auth_token``, ``ssl_key``...).
"""

import re

from oslo_utils import strutils

from nova_cells.urls.parsing import Host
from nova_cells.urls.parsing import split_url

__all__ = [
    'MASK',
    'is_secret_parameter',
    'mask_text',
    'mask_url',
    'passwords',
]

MASK = '***'

# Query parameter names whose value is a secret, matched as substrings of
# the lower-cased name.
_SECRET_PARAMETER_PARTS = ('pass', 'pw', 'secret', 'token', 'key',
                           'credential')


def _mask_host(host: Host) -> str:
    if not host.is_plain:
        # Misplaced parts: the user name is the only part known to be one.
        if host.username is not None and host.password is None and (
                host.username):
            return '%s@%s' % (host.username, MASK)
        return MASK
    if host.username is None:
        return host.text
    if host.password is None:
        return '%s@%s' % (host.username, host.hostport)
    return '%s:%s@%s' % (host.username, MASK, host.hostport)


def is_secret_parameter(name: str) -> bool:
    """True for a query parameter whose value is to be masked."""
    name = name.lower()
    return any(part in name for part in _SECRET_PARAMETER_PARTS)


def _mask_query(query: str) -> str:
    masked = []
    for parameter in query.split('&'):
        name, equals, _value = parameter.partition('=')
        if equals and is_secret_parameter(name):
            parameter = '%s=%s' % (name, MASK)
        masked.append(strutils.mask_password(parameter))
    return '&'.join(masked)


def mask_url(url: str | None) -> str | None:
    """Return ``url`` with each password replaced by ``***``."""
    if url is None:
        return None
    url = str(url)
    if not url:
        return url
    parts = split_url(url)
    if not parts.has_scheme:
        return MASK
    masked = '%s://%s%s' % (parts.scheme,
                            ','.join(_mask_host(h) for h in parts.hosts),
                            strutils.mask_password(parts.path))
    if parts.query is not None:
        masked += '?' + _mask_query(parts.query)
    if parts.fragment is not None:
        masked += '#' + strutils.mask_password(parts.fragment)
    return masked


def passwords(url: str) -> tuple[str, ...]:
    """The passwords written in ``url``'s credentials, as written; for
    scrubbing another library's message that may quote one."""
    return split_url(url).passwords


# A URL inside free text: a scheme, ``://`` and everything up to the next
# blank or quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def mask_text(text: str) -> str:
    """``text`` (an error message, say) with every URL in it masked and
    ``password=...`` style secrets hidden, for a log line."""
    text = _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)
    return strutils.mask_password(text)
