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
