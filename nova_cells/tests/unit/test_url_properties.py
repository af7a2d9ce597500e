"""Masking, template filling and identity read a URL the same way.

URLs are generated from their parts (one or several hosts, IPv6 hosts,
passwords holding ``@ : / # ? %``, query strings, fragments, empty user
names and passwords, default ports written or not), then each of the
three is held to those parts: the split gives them back, masking hides
exactly the passwords, a template naming every part fills back the URL,
and what the URL reaches does not depend on credentials or on how a
default port or a loopback address is spelled.
"""

import string

import testtools
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from nova_cells import urls

# Unencoded characters an operator puts in passwords; "," only in
# single-host (database) URLs, where it cannot separate hosts.
PASSWORD_CHARACTERS = string.ascii_letters + string.digits + '@:/#?%!$&*'
NAME_CHARACTERS = string.ascii_lowercase + string.digits + '-_'
LOOPBACK_SPELLINGS = ('localhost', '127.0.0.1', '127.1', '[::1]',
                      '127.0.0.2', 'LOCALHOST')

hostnames = st.one_of(
    st.text(string.ascii_lowercase, min_size=1, max_size=8).map(
        lambda name: name + '.example.org'),
    st.tuples(*[st.integers(1, 254)] * 4).map(
        lambda octets: '10.%d.%d.%d' % octets[1:]),
    st.sampled_from(['[fd00::2]', '[2001:db8::1]', '[fe80::1:2]']))
ports = st.one_of(st.none(), st.integers(1, 65535).map(str))


@st.composite
def hosts(draw, password_characters=PASSWORD_CHARACTERS):
    username = draw(st.one_of(st.none(), st.text(NAME_CHARACTERS,
                                                 max_size=6)))
    password = None
    if username is not None:
        password = draw(st.one_of(st.none(), st.text(password_characters,
                                                     max_size=12)))
    return (username, password, draw(hostnames), draw(ports))


@st.composite
def urls_from_parts(draw):
    """A URL and the parts it was written from."""
    transport = draw(st.booleans())
    if transport:
        scheme = draw(st.sampled_from(['rabbit', 'amqp', 'kafka']))
        host_parts = draw(st.lists(hosts(), min_size=1, max_size=3))
    else:
        scheme = draw(st.sampled_from(['mysql+pymysql', 'postgresql',
                                       'mariadb+pymysql']))
        host_parts = [draw(hosts(PASSWORD_CHARACTERS + ','))]
    # A database URL names its database; a virtual host may be empty.
    path = '/' + draw(st.text(NAME_CHARACTERS, min_size=0 if transport
                              else 1, max_size=8))
    query = draw(st.one_of(st.none(), st.lists(
        st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=5),
                  st.text(NAME_CHARACTERS, max_size=5)), max_size=3).map(
            lambda pairs: '&'.join('%s=%s' % pair for pair in pairs))))
    fragment = draw(st.one_of(st.none(), st.text(NAME_CHARACTERS,
                                                 max_size=5)))
    return scheme, host_parts, path, query, fragment


def host_text(username, password, hostname, port, mask=False):
    text = ''
    if username is not None:
        text = username
        if password is not None:
            text += ':' + ('***' if mask else password)
        text += '@'
    text += hostname
    if port is not None:
        text += ':' + port
    return text


def build(scheme, host_parts, path, query, fragment, mask=False):
    url = '%s://%s%s' % (scheme, ','.join(
        host_text(*host, mask=mask) for host in host_parts), path)
    if query is not None:
        url += '?' + (masked_query(query) if mask else query)
    if fragment is not None:
        url += '#' + fragment
    return url


def masked_query(query):
    """``query`` with the value of every password-like parameter hidden.

    Generated parameter names are short lowercase words, so some of them
    (``pw``, ``key``, ``apass``) are password-like by name.
    """
    pairs = (parameter.partition('=') for parameter in query.split('&'))
    return '&'.join(
        name + equals + ('***' if equals and
                         urls.masking.is_secret_parameter(name) else value)
        for name, equals, value in pairs)


def template_for(host_parts, query, fragment):
    """A template naming every part of a URL shaped like ``host_parts``."""
    pieces = []
    for index, (username, password, _hostname, port) in enumerate(
            host_parts, start=1):
        text = ''
        if username is not None:
            text = '{username%d}' % index
            if password is not None:
                text += ':{password%d}' % index
            text += '@'
        text += '{hostname%d}' % index
        if port is not None:
            text += ':{port%d}' % index
        pieces.append(text)
    template = '{scheme}://' + ','.join(pieces) + '/{path}'
    if query is not None:
        template += '?{query}'
    if fragment is not None:
        template += '#{fragment}'
    return template


class TestOneParse(testtools.TestCase):

    @settings(max_examples=150, deadline=None)
    @given(urls_from_parts())
    def test_split_gives_back_the_parts(self, parts):
        scheme, host_parts, path, query, fragment = parts
        split = urls.split_url(build(*parts))
        self.assertEqual(scheme, split.scheme)
        self.assertEqual(
            [tuple(host) for host in host_parts],
            [(h.username, h.password, h.hostname, h.port)
             for h in split.hosts])
        self.assertEqual((path, query, fragment),
                         (split.path, split.query, split.fragment))

    @settings(max_examples=150, deadline=None)
    @given(urls_from_parts())
    def test_masking_hides_exactly_the_passwords(self, parts):
        url = build(*parts)
        self.assertEqual(build(*parts, mask=True), urls.mask_url(url))

    @settings(max_examples=150, deadline=None)
    @given(urls_from_parts())
    def test_a_template_of_every_part_fills_back_the_url(self, parts):
        _scheme, host_parts, _path, query, fragment = parts
        url = build(*parts)
        rendering = urls.render(template_for(host_parts, query, fragment),
                                url)
        self.assertEqual((url, ()), (rendering.url, rendering.missing))

    @settings(max_examples=150, deadline=None)
    @given(urls_from_parts(), st.data())
    def test_what_is_reached_ignores_credentials_and_spelling(self, parts,
                                                              data):
        scheme, host_parts, path, query, fragment = parts
        reached = (urls.queue_reached if len(host_parts) > 1 or
                   scheme in ('rabbit', 'amqp', 'kafka')
                   else urls.database_reached)
        original = reached(build(*parts))
        self.assertIsNotNone(original)
        family = scheme.partition('+')[0]
        default_port = str(urls.parsing.DEFAULT_PORTS[family])
        respelled = [
            (data.draw(st.one_of(st.none(), st.just('other'))),
             data.draw(st.one_of(st.none(), st.just('x@y:z'))),
             hostname.upper(),
             default_port if port is None else port)
            for _username, _password, hostname, port in host_parts]
        again = reached(build(scheme, respelled, path, query, fragment))
        self.assertTrue(original.same(again), (original, again))
        if len(set(path)) > 1:  # another database or virtual host
            other = reached(build(scheme, host_parts, path + 'x', query,
                                  fragment))
            self.assertFalse(original.same(other))

    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from(LOOPBACK_SPELLINGS),
           st.sampled_from(LOOPBACK_SPELLINGS),
           st.sampled_from(['mysql+pymysql', 'mariadb+pymysql', 'mysql']))
    def test_loopback_spellings_reach_one_database(self, one, other,
                                                   scheme):
        first = urls.database_reached('mysql+pymysql://u:p@%s/nova' % one)
        second = urls.database_reached('%s://v:q@%s:3306/nova' % (scheme,
                                                                  other))
        self.assertTrue(first.same(second))

    def test_none_transport_reaches_no_queue(self):
        self.assertIsNone(urls.queue_reached('none:///'))
        self.assertIsNone(urls.queue_reached('none://'))
