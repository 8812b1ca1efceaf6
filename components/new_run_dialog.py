from typing import Any

from nicegui import ui

from components import format
from models import Run, User
from services import providers, run_control, runs
from services.errors import ServiceError


async def new_run(user: User, project_id: int) -> None:
    """The "New run" form: provider and product with its price, command, env vars; launches and opens the run."""
    products = {p.id: p for p in await (await providers.get('local')).products()}
    with ui.dialog() as dialog, ui.card().classes('w-[36rem]'):
        ui.label('New run').classes('text-h6')
        name = ui.input('Name', value='train').classes('w-full')
        with ui.row().classes('w-full items-center no-wrap'):
            provider = ui.select({'local': 'This machine (local)'}, value='local', label='Provider').classes('w-48')
            product = ui.select({pid: f'{p.name} · {format.money(p.price_per_hour)}/h' for pid, p in products.items()},
                                value=next(iter(products)), label='Product').classes('grow')
        command = ui.textarea('Command', placeholder='python examples/train_mlp.py --epochs 20') \
            .classes('w-full font-mono')
        envs = ui.textarea('Environment (NAME=value, one per line)').classes('w-full font-mono')
        cost = ui.label().classes('text-grey-8')
        hint = ui.label().classes('text-negative')

        def show_cost() -> None:
            chosen = products.get(product.value)
            cost.set_text(f'This run will cost {format.money(chosen.price_per_hour if chosen else 0)} per hour '
                          'while it runs.')

        async def launch() -> None:
            try:
                spec = {'command': command.value or '', 'envs': _envs(envs.value or '')}
                data, _ = await runs.create_run(user, project_id, name=name.value or '', provider=provider.value,
                                                spec=spec)
                await run_control.launch(await Run.get(id=data['id']))
            except ServiceError as error:
                hint.set_text(error.message)
                return
            dialog.submit(data['id'])

        product.on_value_change(show_cost)
        show_cost()
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat')
            ui.button('Launch', icon='rocket_launch', on_click=launch)
    run_id = await dialog
    dialog.delete()
    if run_id:
        ui.navigate.to(f'/runs/{run_id}')


def _envs(text: str) -> dict[str, Any]:
    envs = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        key, sep, value = line.partition('=')
        if not sep or not key.strip().isidentifier():
            raise _BadEnv(f'Line {number} of the environment is not NAME=value.')
        envs[key.strip()] = value
    return envs


class _BadEnv(ServiceError):
    status_code = 422
