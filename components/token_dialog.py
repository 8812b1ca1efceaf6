"""A run's token, shown once, with the lines that make training code anywhere report to the run."""

import shlex

from nicegui import ui

import settings
from components.dialogs import discard

SDK_USE = 'python train.py  # in it: import trainboard; run = trainboard.init()'


async def show_run_token(run_id: int, token: str) -> None:
    """Show an external run's token, once (only its hash is stored), with the SDK lines to use it; returns when the
    user has closed the dialog, which only its button does, so that a stray click cannot lose the token."""
    with ui.dialog().props('persistent') as dialog, ui.card().classes('w-[44rem] max-w-full'):
        ui.label('Report to this run from your code').classes('text-h6')
        ui.label('Its token is shown only now: copy these lines, then run your training code where they are set. '
                 'A lost token cannot be shown again; retry the run for a new one.').classes('text-grey-8')
        ui.code(sdk_lines(run_id, token), language='bash').classes('w-full').mark('run-token')
        with ui.row().classes('w-full justify-end'):
            ui.button('Done', on_click=dialog.close).mark('run-token-done')
    await dialog
    discard(dialog)


def sdk_lines(run_id: int, token: str) -> str:
    """The shell lines that fetch the one-file SDK and point it at the run (what trainboard.init() reads)."""
    url = settings.current.public_url.rstrip('/')
    return '\n'.join([f'curl -O {shlex.quote(url + "/sdk/trainboard.py")}',
                      f'export TRAINBOARD_URL={shlex.quote(url)}',
                      f'export TRAINBOARD_RUN_ID={run_id}',
                      f'export TRAINBOARD_RUN_TOKEN={shlex.quote(token)}',
                      SDK_USE])
