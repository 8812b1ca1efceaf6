from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.dialogs import confirm
from services.lifecycle import ACTIONS

LABELS = {'pause': ('Pause', 'pause', 'warning'), 'resume': ('Resume', 'play_arrow', 'positive'),
          'stop': ('Stop', 'stop', 'negative'), 'cancel': ('Cancel', 'cancel', 'negative'),
          'retry': ('Retry', 'replay', 'primary')}
QUESTIONS = {'stop': 'Stop this run? It is asked to checkpoint first, then its job is stopped.',
             'cancel': 'Cancel this run? Its job is ended at once, without a checkpoint.',
             'pause': 'Pause this run? It is asked to checkpoint first, then its job is frozen (on a cloud: its '
                      'instance stopped, so its GPU stops billing).'}


class RunControls(ui.row):
    """The actions that make sense for the run's status right now, each behind a confirmation where it costs."""

    def __init__(self, act: Callable[[str], Awaitable[Any]]) -> None:
        super().__init__()
        self.classes('gap-2')
        self.act = act
        self.buttons: dict[str, ui.button] = {}
        with self:
            for action, (label, icon, color) in LABELS.items():
                self.buttons[action] = ui.button(label, icon=icon, on_click=lambda a=action: self._click(a)) \
                    .props(f'outline color={color} dense').mark(f'run-{action}')

    def show(self, status: str) -> None:
        for action, button in self.buttons.items():
            button.set_visibility(any(status == s.value for s in ACTIONS[action]))

    async def _click(self, action: str) -> None:
        if action in QUESTIONS and not await confirm(QUESTIONS[action], action=LABELS[action][0]):
            return
        await self.act(action)
