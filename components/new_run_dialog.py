from typing import Any

from nicegui import ui

from components import format
from components.dialogs import discard, number
from models import User
from services import bounds, credentials, providers, run_config, run_control
from services.errors import Invalid, ServiceError


async def new_run(user: User, project_id: int) -> None:
    """The "New run" form: provider (a cloud through one of the credentials the project may use) and product with
    its price and availability, GPU count, image, command, env vars, and the hourly cost it will incur; launches and
    opens the run."""
    try:
        usable = await credentials.usable_in(user, project_id)
    except ServiceError as error:  # the role was lost since the page was opened
        ui.notify(error.message, type='negative')
        return
    # a provider that needs no credential by its name ('local'), a cloud as '<name>#<credential id>' ('novita#3'):
    # the project's own credentials first, then the workspace's
    offered = {found.name: found.capabilities for found in await providers.available(user)}
    choices = {name: caps.label for name, caps in offered.items() if not caps.needs_credential} | {
        f'{c["provider"]}#{c["id"]}': f'{offered[c["provider"]].label} · {c["label"]} ({c["scope_label"]})'
        for c in usable if c['provider'] in offered}
    # an account the poller cannot reach stays in the list, said so, with the reason below (greyed), rather than vanish
    down = {f'{c["provider"]}#{c["id"]}': c for c in usable if c['provider'] in offered and not c['ok']}
    choices = {key: label + (' · unreachable' if key in down else '') for key, label in choices.items()}
    catalog: dict[str, dict[str, providers.Product]] = {}  # choice -> its products, fetched when it is chosen
    with ui.dialog() as dialog, ui.card().classes('w-[40rem] max-w-full'):
        ui.label('New run').classes('text-h6')
        name = ui.input('Name (optional)', placeholder='empty: a name is made up, like brave-otter-3').classes('w-full')
        with ui.row().classes('w-full items-center'):  # wraps on a phone rather than squeeze the product away
            provider = ui.select(choices, value=next(iter(choices), None), label='Provider') \
                .classes('w-64 max-w-full').mark('new-run-provider')  # the runs table filters by provider too
            # a long product label must neither push the GPU count out of the dialog nor shrink to nothing
            product = ui.select({}, label='Product').classes('grow basis-48 min-w-0')
            gpus = ui.number('GPUs', value=1, min=1, max=8, step=1).classes('w-20 shrink-0')
        for key, credential in down.items():
            ui.label(f'{choices[key].removesuffix(" · unreachable")}: unreachable since '
                     f'{credential["failing_since"]:%Y-%m-%d %H:%M} UTC — {credential["error"]}') \
                .classes('text-caption text-grey-6 break-words').mark('provider-down')
        with ui.row().classes('w-full items-center no-wrap'):
            image = ui.input('Image', placeholder='pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime').classes('grow')
            spot = ui.switch('Spot').tooltip('Cheaper capacity that the cloud may reclaim (with an hour\'s notice)')
        # monospace for what is typed only: labels and hints keep the page's font
        command = ui.textarea('Command', value=providers.example_command()).classes('w-full') \
            .props('input-class=font-mono autogrow')
        # short labels, the how in the hint under each: a phone's dialog cuts a long label short
        config = ui.textarea('Config', placeholder='lr=0.001\nbatch_size=64\nopt=adam') \
            .classes('w-full').mark('new-run-config').props('input-class=font-mono autogrow '
                                     'hint="JSON, or key=value lines (numbers, true/false read as such)"')
        envs = ui.textarea('Environment').classes('w-full') \
            .props('input-class=font-mono autogrow hint="NAME=value, one per line; kept encrypted"')
        # text fields, not number inputs: a browser's number input turns letters into "empty", which means no limit
        with ui.element('div').classes('w-full grid grid-cols-1 sm:grid-cols-2 gap-x-4'):  # one column on a phone
            max_cost = ui.input('Max cost (USD)', placeholder='no limit').props('inputmode=decimal prefix=$')
            max_hours = ui.input('Max duration (hours)', placeholder='no limit').props('inputmode=decimal')
            stall_minutes = ui.input('Stall timeout (minutes)', placeholder='none').props('inputmode=decimal') \
                .tooltip('Tell the run\'s people when its code has not reported through the SDK for this long')
            grace_minutes = ui.input('Stop after a further … minutes', placeholder='project\'s setting') \
                .props('inputmode=decimal') \
                .tooltip('Once they are told, fail the stalled run this much later unless it reports; empty: the '
                         'project\'s setting, else the stall timeout again')
        cost = ui.label().classes('text-grey-8')
        hint = ui.label('' if choices else NOTHING_TO_LAUNCH_ON).classes('text-negative')

        async def show_products() -> None:
            if provider.value is None:  # nothing this user may launch on: the hint says so
                return
            if provider.value not in catalog:
                cloud_name, _, credential_id = provider.value.partition('#')
                try:
                    found = await providers.products(user, cloud_name, credential_id=int(credential_id or 0) or None)
                except ServiceError as error:
                    hint.set_text(error.message)
                    found = []
                else:
                    hint.set_text('')
                catalog[provider.value] = {p.id: p for p in found}
            products = catalog[provider.value]
            rents_gpus = chosen_capabilities().rents_gpus
            product.set_options({pid: _product_label(p, rents_gpus) for pid, p in products.items()},
                                value=next((pid for pid, p in products.items() if p.available), None))
            caps = chosen_capabilities()
            image.set_visibility('image' in caps.launch_fields)
            gpus.set_visibility(caps.rents_gpus)
            spot.set_visibility(caps.spot)
            show_cost()

        def chosen_capabilities() -> providers.Capabilities:
            return offered[provider.value.partition('#')[0]]

        def show_cost() -> None:
            chosen = catalog.get(provider.value, {}).get(product.value)
            count = int(gpus.value or 1) if chosen_capabilities().rents_gpus else 1
            if chosen and spot.value and chosen.spot_price_per_hour is None:
                cost.set_text(f'{chosen.name} is not offered on spot capacity.')
                return
            per_gpu = (chosen.spot_price_per_hour if spot.value else chosen.price_per_hour) if chosen else 0.0
            price = per_gpu * count
            cost.set_text(f'This run will cost {format.money(price)} per hour while it runs.')

        async def launch() -> None:
            if provider.value is None:
                hint.set_text(NOTHING_TO_LAUNCH_ON)
                return
            try:
                spec = {'command': command.value or '', 'envs': _envs(envs.value or ''), 'image': image.value or '',
                        'product_id': product.value or '', 'gpu_count': int(gpus.value or 1),
                        'billing': 'spot' if spot.value and chosen_capabilities().spot else 'on-demand'}
                limits = _limits(max_cost.value, max_hours.value, stall_minutes.value, grace_minutes.value)
                provider_name, _, credential_id = provider.value.partition('#')
                data, _ = await run_control.start(user, project_id, name=name.value or '', provider=provider_name,
                                                  spec=spec, limits=limits, config=run_config.parse(config.value),
                                                  credential_id=int(credential_id) if credential_id else None)
            except ServiceError as error:
                hint.set_text(error.message)
                return
            dialog.submit(data['id'])

        provider.on_value_change(show_products)
        product.on_value_change(show_cost)
        gpus.on_value_change(show_cost)
        spot.on_value_change(show_cost)
        await show_products()
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat')
            ui.button('Launch', icon='rocket_launch', on_click=launch)
    run_id = await dialog
    discard(dialog)
    if run_id:
        ui.navigate.to(f'/runs/{run_id}')


NOTHING_TO_LAUNCH_ON = ('There is nothing you may launch on yet: an admin can add '
                        f'{" or ".join(f"a {caps.said} API key" for caps in credentials.providers().values())}.')
EXAMPLE = providers.example_command()  # as the dialog offers it from a checkout


def _product_label(product: providers.Product, rents_gpus: bool) -> str:
    """'RTX 4090 · $0.35/h per GPU ($0.18 spot)'; a machine that is not rented by the GPU is priced as a whole
    ('This machine (2 CPUs) · no charge'), never "$0.00/h per GPU"."""
    if rents_gpus:
        price = f'{format.money(product.price_per_hour)}/h per GPU'
    else:
        price = f'{format.money(product.price_per_hour)}/h per machine' if product.price_per_hour else 'no charge'
    spot = f' ({format.money(product.spot_price_per_hour)} spot)' if product.spot_price_per_hour else ''
    return f'{product.name} · {price}{spot}' + ('' if product.available else ' · sold out')


def _limits(cost: str, hours: str, stall: str, grace: str) -> dict[str, float | None]:
    """The limit fields as the run service takes them, each refused in the words of its field."""
    most_hours, most_minutes = bounds.INT_MAX / 3600, bounds.INT_MAX / 60
    limits = {'max_cost_usd': number(cost, 'Max cost', unit='dollars', most=bounds.USD_MAX),
              'max_duration_s': _scaled(number(hours, 'Max duration', unit='hours', most=most_hours), 3600),
              'stall_timeout_s': _scaled(number(stall, 'Stall timeout', unit='minutes', most=most_minutes), 60),
              'stall_grace_s': _scaled(number(grace, 'Stop after a further … minutes', unit='minutes',
                                              most=most_minutes), 60)}
    if limits['stall_grace_s'] is not None and limits['stall_timeout_s'] is None:
        raise Invalid('"Stop after a further … minutes" counts from a stall: set a stall timeout too.')
    return limits


def _scaled(value: float | None, unit_s: int) -> float | None:
    return None if value is None else value * unit_s


def _envs(text: str) -> dict[str, Any]:
    envs = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        key, sep, value = line.partition('=')
        if not sep or not key.strip().isidentifier():
            raise _BadEnv(f'Line {line_number} of the environment is not NAME=value.')
        envs[key.strip()] = value
    return envs


class _BadEnv(ServiceError):
    status_code = 422
