from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.dialogs import confirm
from components.token_dialog import show_run_token
from services.errors import ServiceError
from services.lifecycle import ACTIONS

LABELS = {'pause': ('Pause', 'pause', 'warning'), 'resume': ('Resume', 'play_arrow', 'positive'),
          'stop': ('Stop', 'stop', 'negative'), 'cancel': ('Cancel', 'cancel', 'negative'),
          'retry': ('Retry', 'replay', 'primary')}
QUESTIONS = {'stop': 'Stop this run? It is asked to checkpoint first, then its job is stopped.',
             'cancel': 'Cancel this run? Its job is ended at once, without a checkpoint.',
             'pause': 'Pause this run? It is asked to checkpoint first, then its job is frozen (on a cloud: its '
                      'instance stopped, so its GPU stops billing).'}
# run_control.retry: the new run's snapshot, and its token when it is an external run (None when it was launched)
Retry = Callable[[], Awaitable[tuple[dict[str, Any], str | None]]]


class RunControls(ui.row):
    """The actions that make sense for the run's status right now, each behind a confirmation where it costs.

    `act(action)` carries out the others; `retry()` makes the new run, whose page Retry then opens, after showing
    an external run's new token (once) with the lines to use it. Without `retry`, Retry goes through `act`."""

    def __init__(self, act: Callable[[str], Awaitable[Any]], *, retry: Retry | None = None) -> None:
        super().__init__()
        self.classes('gap-2')
        self.act = act
        self.retry = retry
        self.buttons: dict[str, ui.button] = {}
        with self:
            for action, (label, icon, color) in LABELS.items():
                self.buttons[action] = ui.button(label, icon=icon, on_click=lambda a=action: self._click(a)) \
                    .props(f'outline color={color} dense').mark(f'run-{action}')

    def show(self, status: str, *, pausable: bool = True) -> None:
        for action, button in self.buttons.items():
            button.set_visibility(any(status == s.value for s in ACTIONS[action]) and (pausable or action != 'pause'))

    async def _click(self, action: str) -> None:
        # "Cancel run" / "Keep running": never two buttons that both read "Cancel"
        if action in QUESTIONS and not await confirm(QUESTIONS[action], action=f'{LABELS[action][0]} run',
                                                     dismiss='Keep running'):
            return
        if action == 'retry' and self.retry is not None:
            await self._retry(self.retry)
            return
        await self.act(action)

    async def _retry(self, retry: Retry) -> None:
        try:
            data, token = await retry()
        except ServiceError as error:
            ui.notify(error.message, type='negative')
            return
        if token:  # an external run's code must be started with it: this is the only time it can be seen
            await show_run_token(data['id'], token)
        ui.navigate.to(f'/runs/{data["id"]}')
