"""How a status looks: the badge's colour, and the reason beside it in words, coloured by what it means."""

from typing import Any

from nicegui import ui

from components import format
from services.lifecycle import SYSTEM_STOPS

IN_BETWEEN = 'orange-9'  # asked for, being carried out: pausing, stopping, resuming
STOP = 'blue-grey-7'  # ended on purpose, by someone or a limit: not the red of a failure
COLORS = {
    'active': 'positive', 'archived': 'grey',
    'queued': 'grey-7', 'provisioning': 'info', 'running': 'primary', 'paused': 'warning',
    'pausing': IN_BETWEEN, 'stopping': IN_BETWEEN, 'resuming': IN_BETWEEN,
    'succeeded': 'positive', 'failed': 'negative', 'stopped': STOP, 'cancelled': STOP,
}
_STOPS = {'stopping', 'stopped', 'cancelled'}


class StatusBadge(ui.badge):
    """A coloured badge for a project or run status that follows `set_status`."""

    def __init__(self, status: str) -> None:
        super().__init__()
        self.set_status(status)

    def set_status(self, status: str) -> None:
        self.set_text(status)
        self._props['color'] = COLORS.get(status, 'grey')
        self.update()


def reason(run: dict[str, Any]) -> tuple[str, str]:
    """What to say beside a run's status, and in which (Quasar) colour: why it stopped, in the colour of a stop;
    why it failed, in red; what keeps an asked-for stop or pause from being carried out, as in between."""
    status, message = run['status'], run.get('status_message') or ''
    if run.get('control_error'):
        return f'{status} — {run["control_error"]}', IN_BETWEEN
    if status == 'failed':
        return message, 'negative'
    if status in _STOPS or run.get('status_cause') in SYSTEM_STOPS:
        return message or _waiting(run), STOP
    return message or _waiting(run), IN_BETWEEN if status in _WAITING else 'grey-8'


_WAITING = {'pausing': 'Pausing: the job may save a checkpoint{until}, then it is frozen and stops billing.',
            'stopping': 'Stopping: the job may save a checkpoint{until}, then it is stopped.',
            'resuming': 'Resuming: waiting for the job to run again.',
            'queued': 'Queued: it is launched at the next poll.'}
_WAITING_FOR_CODE = ('Waiting for its code to report: start your training code with this run\'s token '
                     '(TRAINBOARD_RUN_ID={id}); a lost token is not shown again — retry the run for a new one.')


def _waiting(run: dict[str, Any]) -> str:
    """What an asked-for pause, stop or resume is waiting for, when nobody gave a reason."""
    if run['status'] == 'queued' and run.get('provider') == 'external':
        return _WAITING_FOR_CODE.format(id=run['id'])
    deadline = run.get('deadline')
    until = f' until {format.clock_time(deadline, zone=True)}' if deadline else ''
    return _WAITING.get(run['status'], '').format(until=until)
