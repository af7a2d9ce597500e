"""Hide the passwords in database and transport URLs.

Every place a URL can reach a person (log lines, exceptions, ``repr()``,
CLI output) goes through :func:`mask_url`. It works host by host, so a
multi-host transport URL such as ``rabbit://u:p1@h1,u:p2@h2/vhost`` keeps
every host and loses every password, and it never raises: a URL too broken
to parse is still masked, never echoed back as it was given.

The rules lean towards masking too much: a piece that cannot be told apart
from a password (a "port" that is not a number, a scheme-less
``user:secret@host``) is masked as one.
"""

import re

from oslo_utils import strutils

MASK = '***'

# Query parameter names whose value is a secret, matched as substrings of
# the lower-cased name: psycopg2's ``password``, PyMySQL's ``passwd``,
# ``auth_token``, ``ssl_key`` and the like.
_SECRET_PARAMETER_PARTS = ('pass', 'pwd', 'secret', 'token', 'key',
                           'credential')

# A host as it may stand alone in a netloc: a name or IPv4 address, or a
# bracketed IPv6 address, with an optional numeric port.
_PLAIN_HOST = re.compile(r'^(\[[^\]]*\]|[^:@\[\]]*)(:\d*)?$')

# SQLAlchemy (database) URLs have exactly one host, so a comma belongs to
# the password; only transport URLs list several hosts.
_SINGLE_HOST_SCHEMES = ('sqlite', 'mysql', 'mariadb', 'postgresql',
                        'postgres', 'oracle', 'mssql')


def _mask_userinfo(userinfo: str) -> str:
    user, sep, _password = userinfo.partition(':')
    return f'{user}:{MASK}' if sep else user


def _mask_lone_host(host: str) -> str:
    """A host without credentials; a non-numeric "port" may be a password
    whose ``@host`` part is missing, so it is masked."""
    if _PLAIN_HOST.match(host):
        return host
    name, sep, _rest = host.partition(':')
    return f'{name}:{MASK}' if sep else host


def _mask_host(host: str) -> str:
    userinfo, at, hostport = host.rpartition('@')
    if not at:
        return _mask_lone_host(host)
    return f'{_mask_userinfo(userinfo)}@{hostport}'


def _split_hosts(netloc: str) -> list[str]:
    """Split a multi-host netloc, re-joining pieces a comma inside a
    password split apart (a piece that is no plain host belongs to the
    credentials of the next one that has an ``@``)."""
    hosts: list[str] = []
    pending = ''
    for piece in netloc.split(','):
        piece = pending + piece
        if '@' not in piece and not _PLAIN_HOST.match(piece):
            pending = piece + ','
            continue
        pending = ''
        hosts.append(piece)
    if pending:
        hosts.append(pending[:-1])
    return hosts


def _mask_netloc(netloc: str, single_host: bool) -> str:
    if single_host:
        return _mask_host(netloc)
    return ','.join(_mask_host(host) for host in _split_hosts(netloc))


def _is_secret_parameter(name: str) -> bool:
    name = name.lower()
    return any(part in name for part in _SECRET_PARAMETER_PARTS)


def _mask_query(query: str) -> str:
    masked = []
    for parameter in query.split('&'):
        name, equals, _value = parameter.partition('=')
        if equals and _is_secret_parameter(name):
            parameter = f'{name}={MASK}'
        masked.append(strutils.mask_password(parameter))
    return '&'.join(masked)


def _mask_tail(tail: str) -> str:
    """The path, query and fragment after the network location."""
    path, question, query = tail.partition('?')
    if not question:
        return strutils.mask_password(tail)
    query, hash_sign, fragment = query.partition('#')
    return (strutils.mask_password(path) + '?' + _mask_query(query) +
            hash_sign + strutils.mask_password(fragment))


def _split_netloc(rest: str) -> tuple[str, str]:
    """The network location ends at the first ``/`` or ``?`` after its last
    ``@``, so an unescaped ``/``, ``?`` or ``@`` inside a password stays
    inside it."""
    last_at = rest.rfind('@')
    end = len(rest)
    for delimiter in '/?':
        found = rest.find(delimiter, last_at + 1)
        if found != -1:
            end = min(end, found)
    return rest[:end], rest[end:]


def mask_url(url: str | None) -> str | None:
    """Return ``url`` with each password replaced by ``***``."""
    if url is None:
        return None
    url = str(url)
    scheme, sep, rest = url.partition('://')
    if not sep:
        if '@' not in url:
            return strutils.mask_password(url)
        # No scheme, but "user:secret@host" is still credentials.
        scheme, rest = '', url
    netloc, tail = _split_netloc(rest)
    dialect = scheme.partition('+')[0].lower()
    masked = _mask_netloc(netloc, dialect in _SINGLE_HOST_SCHEMES)
    return f'{scheme}{sep}{masked}{_mask_tail(tail)}'


# A URL inside free text: a scheme, ``://`` and everything up to the next
# blank or quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def mask_text(text: str) -> str:
    """``text`` (an error message, say) with every URL in it masked and
    ``password=...`` style secrets hidden, for a log line."""
    text = _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)
    return strutils.mask_password(text)
