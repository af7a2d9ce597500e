"""Hide the passwords in database and transport URLs.

Every place a URL can reach a person (log lines, exceptions, ``repr()``,
CLI output) goes through :func:`mask_url`. It works host by host, so a
multi-host transport URL such as ``rabbit://u:p1@h1,u:p2@h2/vhost`` keeps
every host and loses every password, and it never raises: a URL too broken
to parse is still masked, never echoed back as it was given.
"""

from oslo_utils import strutils

MASK = '***'


def _mask_userinfo(userinfo: str) -> str:
    user, sep, _password = userinfo.partition(':')
    return f'{user}:{MASK}' if sep else user


def _mask_netloc(netloc: str) -> str:
    hosts = []
    for host in netloc.split(','):
        userinfo, at, hostport = host.rpartition('@')
        hosts.append(f'{_mask_userinfo(userinfo)}@{hostport}' if at
                     else host)
    return ','.join(hosts)


def mask_url(url: str | None) -> str | None:
    """Return ``url`` with each password replaced by ``***``.

    The network location ends at the first ``/`` or ``?`` after its last
    ``@``, so an unescaped ``/`` or ``@`` inside a password is masked too.
    """
    if url is None:
        return None
    url = str(url)
    scheme, sep, rest = url.partition('://')
    if not sep:
        return strutils.mask_password(url)
    last_at = rest.rfind('@')
    end = len(rest)
    for delimiter in '/?':
        found = rest.find(delimiter, last_at + 1)
        if found != -1:
            end = min(end, found)
    netloc, tail = rest[:end], rest[end:]
    return f'{scheme}://{_mask_netloc(netloc)}' + strutils.mask_password(
        tail)
