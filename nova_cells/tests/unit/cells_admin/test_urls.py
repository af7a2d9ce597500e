"""URL checks and cell0's default database URL (no database needed)."""

from nova_cells import exception
from nova_cells import urls
from nova_cells.tests.fixtures import base


class TestCell0DefaultConnection(base.TestCase):

    def test_server_database_gets_suffix_and_keeps_everything_else(self):
        for local, cell0 in (
                ('mysql+pymysql://nova:p%40ss%3Aw%2Fd%25@db:3306/nova'
                 '?charset=utf8',
                 'mysql+pymysql://nova:p%40ss%3Aw%2Fd%25@db:3306/nova_cell0'
                 '?charset=utf8'),
                ('postgresql+psycopg2://nova:secret@db/nova',
                 'postgresql+psycopg2://nova:secret@db/nova_cell0')):
            self.assertEqual(cell0, urls.cell0_default_connection(local))

    def test_sqlite_file_gets_suffix_before_extension(self):
        for local, cell0 in (
                ('sqlite:////var/lib/nc/nova.sqlite',
                 'sqlite:////var/lib/nc/nova_cell0.sqlite'),
                ('sqlite:////var/lib/nc/nova', 'sqlite:////var/lib/nc/'
                                               'nova_cell0'),
                ('sqlite:///relative.db', 'sqlite:///relative_cell0.db'),
                ('sqlite:////var/lib/nc.d/nova', 'sqlite:////var/lib/nc.d/'
                                                 'nova_cell0'),
                ('sqlite:////tmp/.hidden', 'sqlite:////tmp/.hidden_cell0')):
            self.assertEqual(cell0, urls.cell0_default_connection(local))

    def test_underivable_urls_are_refused_masked(self):
        for local in ('', 'sqlite://', 'sqlite:///:memory:',
                      'not a url :secret@'):
            error = self.assertRaises(exception.InvalidCellURL,
                                      urls.cell0_default_connection, local)
            self.assertIn('--database_connection', str(error))
            self.assertNotIn('secret', str(error))


class TestChecks(base.TestCase):

    def test_transport_urls(self):
        for good in ('none:///', 'rabbit://u:p@h1:5672,u:p@h2:5672/v',
                     'fake://'):
            urls.check_transport_url(good, 'c')
        self.assertRaises(exception.MissingCellURL, urls.check_transport_url,
                          '', 'c')
        for bad in ('nothing', 'rabbit://u:secret@h:port/'):
            error = self.assertRaises(exception.InvalidCellURL,
                                      urls.check_transport_url, bad, 'c')
            self.assertNotIn('secret', str(error))

    def test_database_urls(self):
        urls.check_database_connection('sqlite:////tmp/x.db', 'c')
        urls.check_database_connection('mysql+pymysql://u:p@h/db', 'c')
        for bad in ('garbage', 'nosuchdialect://h/db', 'sqlite://',
                    'sqlite:///:memory:'):
            self.assertRaises(exception.InvalidCellURL,
                              urls.check_database_connection, bad, 'c')

    def test_unencoded_password_characters_never_reach_the_message(self):
        # A "/" ends the host part early, so the parser reads the rest of
        # the password as a port and quotes it in its own error.
        error = self.assertRaises(
            exception.InvalidCellURL, urls.check_transport_url,
            'rabbit://u:TopSecret99/x@127.0.0.1/x', 'c')
        self.assertNotIn('TopSecret99', str(error))
        self.assertIn('percent-encoded', str(error))
        # SQLAlchemy ends a password at its first "@" and would send the
        # rest as the host name, which a driver's errors then echo.
        error = self.assertRaises(
            exception.InvalidCellURL, urls.check_database_connection,
            'mysql+pymysql://u:p@ssw0rd@h/db', 'c')
        self.assertNotIn('ssw0rd', str(error))
        self.assertIn('%40', str(error))
        urls.check_database_connection('mysql+pymysql://u:p%40ssw0rd@h/db',
                                       'c')
