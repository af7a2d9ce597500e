"""Cell URL templates: parsing local URLs and filling templates."""

import string

import fixtures
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from oslo_config import cfg

from nova_cells import context as nova_context
from nova_cells import exception
from nova_cells import objects
from nova_cells import urls
from nova_cells.tests.fixtures import base
from nova_cells.urls import templates

IDENTITY = '{scheme}://{username}:{password}@{hostname}:{port}/{path}'
AWKWARD_PASSWORD = 'p@ss:w/o%rd?#x'  # noqa: S105 - raw, unencoded
MULTI_HOST = ('rabbit://alice:a@1:x@mq1.example.org:5672,'
              'bob:b/2%25@[fd00::2]:5673/vhost?ssl=1')


class TestURLVariables(base.TestCase):

    def test_single_host(self):
        values = urls.url_variables(
            'mysql+pymysql://nova:secret@db.example.org:3306/nova?'
            'charset=utf8#frag')
        self.assertEqual(
            {'scheme': 'mysql+pymysql', 'username': 'nova',
             'password': 'secret', 'hostname': 'db.example.org',
             'port': '3306', 'path': 'nova', 'query': 'charset=utf8',
             'fragment': 'frag'},
            {name: values[name] for name in templates.VARIABLES})
        self.assertEqual('db.example.org', values['hostname1'])

    def test_password_with_reserved_characters(self):
        values = urls.url_variables(
            'mysql+pymysql://nova:%s@db/nova' % AWKWARD_PASSWORD)
        self.assertEqual(('nova', AWKWARD_PASSWORD, 'db', 'nova'),
                         (values['username'], values['password'],
                          values['hostname'], values['path']))

    def test_multi_host(self):
        values = urls.url_variables(MULTI_HOST)
        self.assertEqual(
            ('alice', 'a@1:x', 'mq1.example.org', '5672'),
            tuple(values[n + '1'] for n in templates.HOST_VARIABLES))
        self.assertEqual(
            ('bob', 'b/2%25', '[fd00::2]', '5673'),
            tuple(values[n + '2'] for n in templates.HOST_VARIABLES))
        self.assertEqual(('vhost', 'ssl=1'),
                         (values['path'], values['query']))
        self.assertNotIn('hostname3', values)

    def test_absent_parts_are_none_not_text(self):
        values = urls.url_variables('sqlite:////var/lib/nova.db')
        self.assertEqual('/var/lib/nova.db', values['path'])
        for name in templates.HOST_VARIABLES:
            self.assertIsNone(values[name], name)
        self.assertEqual('', values['query'])

    def test_user_without_password(self):
        values = urls.url_variables('rabbit://guest@mq/')
        self.assertEqual(('guest', None),
                         (values['username'], values['password']))

    def test_not_a_url(self):
        self.assertRaises(ValueError, urls.url_variables,
                          'sqlite:relative.db')


class TestRender(base.TestCase):

    def test_identity_template_reproduces_the_local_url(self):
        for local in ('mysql+pymysql://nova:%s@db:3306/nova'
                      % AWKWARD_PASSWORD,
                      'postgresql://u:p%40ss%3A%2F@[::1]:5432/nova'):
            self.assertEqual(local, urls.render(IDENTITY,
                                                         local).url)

    def test_multi_host_template(self):
        template = ('{scheme}://{username1}:{password1}@{hostname1}:{port1},'
                    '{username2}:{password2}@{hostname2}:{port2}/cell1?'
                    '{query}')
        self.assertEqual(
            'rabbit://alice:a@1:x@mq1.example.org:5672,'
            'bob:b/2%25@[fd00::2]:5673/cell1?ssl=1',
            urls.render(template, MULTI_HOST).url)

    def test_plain_url_is_returned_untouched(self):
        rendering = urls.render('none:///', None)
        self.assertEqual(('none:///', ()), (rendering.url,
                                            rendering.missing))

    def test_escaped_braces(self):
        self.assertEqual(
            'rabbit://u:{x}@mq/', urls.render(
                '{scheme}://u:{{x}}@mq/', 'rabbit://a:b@c/').url)

    def assert_unfilled(self, template, local, variable):
        rendering = urls.render(template, local)
        self.assertFalse(rendering.complete)
        self.assertEqual(template, rendering.url)
        self.assertNotIn('None', rendering.url)
        self.assertIn(variable, [name for name, _ in rendering.missing])
        return rendering

    def test_missing_password_is_never_the_text_none(self):
        rendering = self.assert_unfilled(
            '{scheme}://{username}:{password}@{hostname}/cell1',
            'mysql+pymysql://nova@db/nova', 'password')
        self.assertEqual(['password'], [n for n, _ in rendering.missing])

    def test_missing_port(self):
        self.assert_unfilled('{scheme}://{hostname}:{port}/',
                             'rabbit://mq/', 'port')

    def test_index_beyond_the_hosts(self):
        rendering = self.assert_unfilled('{scheme}://{hostname3}/',
                                         MULTI_HOST, 'hostname3')
        self.assertIn('fewer than 3 hosts', rendering.missing[0][1])

    def test_unknown_variable(self):
        rendering = self.assert_unfilled('{scheme}://{host}/',
                                         MULTI_HOST, 'host')
        self.assertIn('not a template variable', rendering.missing[0][1])

    def test_unset_local_url(self):
        rendering = self.assert_unfilled('{scheme}://db/cell1', None,
                                         'scheme')
        self.assertIn('is not set', rendering.missing[0][1])

    def test_unreadable_local_url(self):
        self.assert_unfilled('{scheme}://db/cell1', 'garbage', 'scheme')


# Characters a password may hold in a local URL; ',' separates hosts and
# must be percent-encoded, as oslo.messaging requires.
PASSWORD_CHARACTERS = string.ascii_letters + string.digits + '@:/%?#!$&*+'


class TestRenderProperties(base.TestCase):

    @settings(max_examples=200, deadline=None)
    @given(passwords=st.lists(st.text(PASSWORD_CHARACTERS, min_size=1,
                                      max_size=20), min_size=1, max_size=3),
           vhost=st.text(string.ascii_letters, max_size=8))
    def test_every_password_survives(self, passwords, vhost):
        hosts = ['user%d:%s@host%d:%d' % (i, password, i, 5670 + i)
                 for i, password in enumerate(passwords, start=1)]
        local = 'rabbit://%s/%s' % (','.join(hosts), vhost)
        template = '{scheme}://%s/cell' % ','.join(
            '{username%d}:{password%d}@{hostname%d}:{port%d}' % ((i,) * 4)
            for i in range(1, len(passwords) + 1))
        expected = 'rabbit://%s/cell' % ','.join(hosts)
        self.assertEqual(expected, urls.render(template, local).url)


class TestLocalURLs(base.TestCase):

    def test_read_from_config(self):
        self.flags(transport_url='rabbit://a:b@mq/')
        self.flags(group='database', connection='sqlite:////x.db')
        self.assertEqual('rabbit://a:b@mq/',
                         urls.local_url('transport_url'))
        self.assertEqual('sqlite:////x.db',
                         urls.local_url('database_connection'))

    def test_unregistered_transport_url_reads_as_none(self):
        bare = cfg.ConfigOpts()
        bare([], default_config_files=[])
        self.assertIsNone(urls.local_url('transport_url', bare))
        self.assertIsNone(urls.local_url('database_connection',
                                                  bare))


class TestValidate(base.TestCase):
    """What create_cell / update_cell call before writing."""

    def setUp(self):
        super().setUp()
        self.flags(transport_url='rabbit://nova:S3cret@mq1:5672/')

    def test_fillable_template_passes(self):
        urls.fill('transport_url',
                               '{scheme}://{username}:{password}@mq2/')
        self.assertEqual('rabbit://nova:S3cret@mq2/', urls.fill(
            'transport_url', '{scheme}://{username}:{password}@mq2/'))

    def test_plain_url_passes_even_without_local_url(self):
        urls.fill('database_connection',
                               'mysql+pymysql://u:p@db/cell1')

    def test_unfillable_template_names_the_variable(self):
        error = self.assertRaises(
            exception.CellURLTemplateError, urls.fill,
            'transport_url', '{scheme}://{username}:{password}@{hostname2}/',
            cell='cell1')
        self.assertIn('{hostname2}', str(error))
        self.assertIn('cell1', str(error))
        self.assertEqual('hostname2', error.kwargs['variables'])
        self.assertNotIn('S3cret', str(error))

    def test_database_template_without_local_connection(self):
        self.flags(group='database', connection=None)
        error = self.assertRaises(
            exception.CellURLTemplateError, urls.fill,
            'database_connection', '{scheme}://db/cell1')
        self.assertIn('[database] connection is not set', str(error))


class TestCellMappingTemplates(base.TestCase):
    """Loading keeps templates; targeting refuses what cannot be filled."""

    TEMPLATE = '{scheme}://{username}:{password}@{hostname}:{port}/cell1'

    def setUp(self):
        super().setUp()
        self.flags(transport_url='rabbit://nova:S3cret@mq1:5672/')

    def load(self, **row):
        values = dict(id=1, uuid='9d6c3f3e-56a4-4d0f-bb8b-3a0b5f2b6a11',
                      name='cell1', transport_url=self.TEMPLATE,
                      database_connection='sqlite:////tmp/cell1.db',
                      disabled=None, created_at=None, updated_at=None)
        values.update(row)
        return objects.CellMapping._from_db_object(
            None, objects.CellMapping(), values)

    def test_loaded_template_is_filled_and_remembered(self):
        cell = self.load()
        self.assertEqual('rabbit://nova:S3cret@mq1:5672/cell1',
                         cell.transport_url)
        self.assertEqual(self.TEMPLATE, cell.stored_url('transport_url'))
        self.assertEqual({}, cell.unfilled_url_fields)
        self.assertFalse(cell.disabled)

    def test_assigning_the_filled_value_back_keeps_the_template(self):
        cell = self.load()
        cell.transport_url = cell.transport_url
        updates = cell._urls_for_write(cell.obj_get_changes())
        self.assertEqual(self.TEMPLATE, updates['transport_url'])

    def test_assigning_a_new_url_replaces_the_template(self):
        cell = self.load()
        cell.transport_url = 'rabbit://other@mq9/'
        updates = cell._urls_for_write(cell.obj_get_changes())
        self.assertEqual('rabbit://other@mq9/', updates['transport_url'])

    def test_unfillable_template_loads_but_cannot_be_targeted(self):
        self.flags(transport_url='rabbit://mq1/')
        cell = self.load()
        self.assertEqual(self.TEMPLATE, cell.transport_url)
        self.assertIn('password', cell.unfilled_url_fields['transport_url'])
        ctxt = nova_context.get_admin_context()
        error = self.assertRaises(exception.CellURLTemplateError,
                                  cell.target, ctxt)
        self.assertIn('{username}', str(error))
        self.assertIn(cell.identity, str(error))
        # Targeting the cell directly, not through cell.target(), checks
        # the template just the same, and leaves the context untargeted.
        direct = nova_context.target_cell(ctxt, cell)
        self.assertRaises(exception.CellURLTemplateError, direct.__enter__)
        self.assertRaises(exception.CellURLTemplateError,
                          nova_context.set_target_cell, ctxt, cell)
        self.assertIsNone(ctxt.db_connection)
        self.assertIsNone(ctxt.mq_connection)

    def test_in_memory_template_is_filled_when_targeted(self):
        cell = objects.CellMapping(
            uuid='9d6c3f3e-56a4-4d0f-bb8b-3a0b5f2b6a11',
            transport_url=self.TEMPLATE,
            database_connection='{scheme}:////tmp/cell1.db')
        self.flags(group='database', connection='sqlite:////tmp/main.db')
        filled = cell.with_urls_filled()
        self.assertEqual('sqlite:////tmp/cell1.db',
                         filled.database_connection)
        self.assertEqual('rabbit://nova:S3cret@mq1:5672/cell1',
                         filled.transport_url)
        self.flags(transport_url=None)
        self.assertRaises(exception.CellURLTemplateError,
                          cell.with_urls_filled)

    def test_templates_are_filled_once_per_targeting(self):
        # The show path: a loaded cell, targeted through cell.target().
        self.flags(transport_url='rabbit://nova:S3cret@mq1:5672/')
        cell = self.load()
        calls = []
        real = objects.CellMapping.with_urls_filled

        def counting(this):
            calls.append(this)
            return real(this)

        self.useFixture(fixtures.MonkeyPatch(
            'nova_cells.objects.CellMapping.with_urls_filled', counting))
        ctxt = nova_context.get_admin_context()
        with cell.target(ctxt) as cctxt:
            self.assertIsNotNone(cctxt.mq_connection)
        self.assertEqual(1, len(calls))

    def test_copies_keep_the_template(self):
        cell = self.load().obj_clone()
        self.assertEqual(self.TEMPLATE, cell.stored_url('transport_url'))


class TestInstanceMappingTarget(base.TestCase):

    def test_unmapped_instance_cannot_be_targeted(self):
        mapping = objects.InstanceMapping(
            instance_uuid='0b7e5a8e-8c3f-4f0c-9f35-6d1e2a3b4c5d',
            project_id='p', cell_mapping=None)
        error = self.assertRaises(exception.InstanceNotMappedToCell,
                                  mapping.target, object())
        self.assertIn(mapping.instance_uuid, str(error))
