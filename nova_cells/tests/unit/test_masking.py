"""mask_url: what an operator sees of a URL in logs, errors and output."""

import testtools

from nova_cells import urls

SECRET = 's3cr3t'


class TestMaskUrl(testtools.TestCase):

    def assertMasked(self, url, expected, secret=SECRET):
        masked = urls.mask_url(url)
        self.assertEqual(expected, masked)
        self.assertNotIn(secret, masked)

    def test_none_and_empty(self):
        self.assertIsNone(urls.mask_url(None))
        self.assertEqual('', urls.mask_url(''))

    def test_url_without_password_is_unchanged(self):
        for url in ('sqlite:////var/lib/nova_cells/cell1.sqlite',
                    'sqlite://', 'sqlite:///relative.sqlite',
                    'mysql+pymysql://nova@db.example.org:3306/nova',
                    'rabbit://h1:5672,h2:5672/vhost', 'none:///',
                    'postgresql://[::1]:5432/nova?sslmode=require'):
            self.assertEqual(url, urls.mask_url(url))

    def test_single_host(self):
        self.assertMasked(
            'mysql+pymysql://nova:%s@db:3306/nova?charset=utf8' % SECRET,
            'mysql+pymysql://nova:***@db:3306/nova?charset=utf8')

    def test_empty_user(self):
        self.assertMasked('mysql://:%s@db/nova' % SECRET,
                          'mysql://:***@db/nova')

    def test_ipv6_host(self):
        self.assertMasked('mysql://u:%s@[::1]:3306/nova' % SECRET,
                          'mysql://u:***@[::1]:3306/nova')

    def test_multi_host_every_password_masked(self):
        self.assertMasked(
            'rabbit://u1:%s@h1:5672,u2:other%s@h2:5672/vh' % (
                SECRET, SECRET),
            'rabbit://u1:***@h1:5672,u2:***@h2:5672/vh')

    def test_multi_host_mixed_credentials_keep_hosts(self):
        self.assertMasked('rabbit://h1:5672,u:%s@h2,h3/vh' % SECRET,
                          'rabbit://h1:5672,u:***@h2,h3/vh')

    def test_password_with_special_characters(self):
        for password in ('p@ss', 'p:a:ss', 'p/ss', 'p?ss', 'p#ss',
                         'p%40ss%2F', '@:/%', 'a,b', '12,b', 'a,b,c'):
            for scheme in ('mysql+pymysql', 'postgresql', 'rabbit'):
                url = '%s://nova:%s%s@db.example.org/nova' % (
                    scheme, SECRET, password)
                self.assertMasked(
                    url, '%s://nova:***@db.example.org/nova' % scheme)

    def test_comma_in_multi_host_passwords(self):
        self.assertMasked(
            'rabbit://u:a,%s@h1,v:x,y,%s@h2:5672/' % (SECRET, SECRET),
            'rabbit://u:***@h1,v:***@h2:5672/')

    def test_query_string_passwords(self):
        self.assertMasked(
            'postgresql://h/nova?user=u&password=%s&sslmode=disable' %
            SECRET,
            'postgresql://h/nova?user=u&password=***&sslmode=disable')
        self.assertMasked('mysql://h/nova?passwd=%s' % SECRET,
                          'mysql://h/nova?passwd=***')
        self.assertMasked('rabbit://h/?auth_token=%s#x' % SECRET,
                          'rabbit://h/?auth_token=***#x')

    def test_userinfo_and_query_password_together(self):
        self.assertMasked(
            'mysql://u:%s@h/db?password=%s2' % (SECRET, SECRET),
            'mysql://u:***@h/db?password=***')

    def test_unparseable_input_is_never_echoed_with_its_password(self):
        for broken in ('mysql://nova:%s' % SECRET,          # no @host
                       'nova:%s@db/nova' % SECRET,          # no scheme
                       'garbage:%s@' % SECRET,
                       '://nova:%s@db' % SECRET,
                       'not a url password=%s' % SECRET,
                       'mysql://u:%s@@@' % SECRET,
                       'rabbit://u:%s,@h/' % SECRET,
                       'mysql://u:%s@h:notaport/db' % SECRET):
            masked = urls.mask_url(broken)
            self.assertNotIn(SECRET, masked, broken)
            self.assertIn(urls.MASK, masked, broken)

    def test_misplaced_parts_are_masked_by_position(self):
        # Password where the host belongs (":" and "@" swapped), in the
        # port position, as the only credential, or a bare secret.
        for url, expected in (
                ('rabbit://guest@%s:mq.example.org/v' % SECRET,
                 'rabbit://guest@***/v'),
                ('mysql+pymysql://nova@127.0.0.1:%s/x' % SECRET,
                 'mysql+pymysql://nova@***/x'),
                ('mysql+pymysql://u:p@127.0.0.1:%s/x' % SECRET,
                 'mysql+pymysql://***/x'),
                ('rabbit://:%s@h' % SECRET, 'rabbit://:***@h'),
                (SECRET, urls.MASK)):
            self.assertMasked(url, expected)

    def test_password_like_query_parameters(self):
        for name in ('pw', 'password', 'passwd', 'db_secret', 'auth_token',
                     'ssl_key', 'KEY'):
            self.assertMasked('mysql://h/db?a=1&%s=%s#f' % (name, SECRET),
                              'mysql://h/db?a=1&%s=***#f' % name)

    def test_url_object_is_accepted(self):
        import sqlalchemy as sa

        url = sa.engine.make_url('mysql://u:%s@h/db' % SECRET)
        self.assertNotIn(SECRET, urls.mask_url(url))

    def test_never_raises(self):
        for junk in ('\x00', '://', '@', ',,,', '[', 'a://[:@,]',
                     '%', 'ÿ://ü:ß@ö'):
            self.assertIsInstance(urls.mask_url(junk), str)


class TestMaskText(testtools.TestCase):

    def test_every_url_in_a_message_is_masked(self):
        text = ("cell db 'mysql://u:%s@h/db' and rabbit://g:%s@q:5672/ "
                "failed; password=%s" % (SECRET, SECRET, SECRET))
        masked = urls.mask_text(text)
        self.assertNotIn(SECRET, masked)
        self.assertIn("'mysql://u:***@h/db'", masked)
        self.assertIn('rabbit://g:***@q:5672/ failed', masked)

    def test_text_without_secrets_is_unchanged(self):
        text = 'Cell c1 raised OperationalError: no such table: instances'
        self.assertEqual(text, urls.mask_text(text))
