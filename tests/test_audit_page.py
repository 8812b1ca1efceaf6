"""/audit in the app's own process (NiceGUI's `user` fixture): what the form says back."""

from nicegui import ui
from nicegui.testing import User


async def test_a_bad_filter_shows_a_hint_in_the_form_s_words(admin: User) -> None:
    """The hint names the field as the form does, not as the API does."""
    await admin.open('/audit')
    await admin.should_see('Audit trail')
    admin.find(marker='audit-person').type('not an email').trigger('keydown.enter')
    await admin.should_see('Person: give a user\'s id, their email, or "system".', retries=50)
    admin.find(marker='audit-person').clear().type('system').trigger('keydown.enter')
    await admin.should_not_see('Person: give', retries=50)
    await admin.should_see(kind=ui.table)


async def test_a_bad_filter_shows_no_entries_until_it_is_fixed(admin: User) -> None:
    """The table does not keep the entries of the filter before: what shows always matches what the form says."""
    from models import User as UserModel
    from services import projects
    from tests.helpers import ADMIN_EMAIL, eventually
    await projects.create_project(await UserModel.get(email=ADMIN_EMAIL), name='vision')
    await admin.open('/audit')
    table = next(iter(admin.find(kind=ui.table).elements))
    await eventually(lambda: table.rows)
    admin.find(marker='audit-person').type('mia').trigger('keydown.enter')
    await admin.should_see('Person: give a user\'s id, their email, or "system".', retries=50)
    assert table.rows == []
    await admin.should_see('No entries: the filter above needs fixing.')
    admin.find(marker='audit-person').clear().trigger('keydown.enter')
    await eventually(lambda: table.rows)
    await admin.should_not_see('Person: give')

    admin.find(marker='audit-since').type('2026-02-01')
    admin.find(marker='audit-until').type('2026-01-01')
    await admin.should_see('To: must be later than From.', retries=50)  # the form's words, not "since"
    assert table.rows == []


def test_the_action_filter_offers_every_action_as_the_table_names_it() -> None:
    import re
    from pathlib import Path

    from services import audit
    choices = audit.action_choices()
    for action in audit.LABELS:  # the same words in the filter as in the table's rows
        assert choices[action] == audit.CHOICE_LABELS.get(action, audit.label(action, {})), action
    assert choices['run.running'] == 'Run started or resumed'
    assert audit.label('run.running', {'previous': 'queued'}) == 'Run started'
    assert audit.label('run.running', {'previous': 'paused'}) == 'Run resumed'
    # every action recorded anywhere has its words (f-strings: each of their values)
    root = Path(__file__).parent.parent
    recorded = set()
    for path in [*root.glob('services/**/*.py'), *root.glob('api/*.py')]:
        text = path.read_text()
        recorded |= set(re.findall(r"audit\.record\([^,]+, '([a-z_]+\.[a-z_]+)'", text))
    recorded |= {'notification_target.enabled', 'notification_target.disabled'}
    recorded |= {f'run.{status}' for status in ('queued', 'provisioning', 'running', 'pausing', 'paused', 'resuming',
                                                 'stopping', 'succeeded', 'failed', 'stopped', 'cancelled')}
    assert 'notification_target.added' in recorded and 'artifact.uploaded' in recorded
    assert recorded <= set(audit.LABELS), recorded - set(audit.LABELS)
    assert {'notification_target.', 'artifact.'} <= set(choices)
