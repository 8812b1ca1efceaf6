"""A run's artifacts on its page, live: name, type, size, SHA-256, status and when; download for everyone who sees the
run, upload from the browser and delete for its editors and owners; and the store's problem, once, when it has one.

A change (kind 'artifact', data {'run_id'}) only says that the run's artifacts changed: the panel re-reads the list
through the services (`Rereads`), and re-draws only the rows that changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from nicegui import background_tasks, events, ui

import settings
from components import format, session
from components.dialogs import confirm, discard
from components.live import Rereads
from models import User
from services import artifacts, hub
from services.errors import ServiceError

SHA_SHOWN = 12  # hex digits of a SHA-256 on screen; the whole one on hover and in the clipboard
ICONS = {'checkpoint': 'save', 'model': 'psychology', 'dataset': 'dataset', 'eval': 'fact_check', 'log': 'article',
         'file': 'description'}
STATUS_COLORS = {'ready': 'positive', 'uploading': 'primary', 'failed': 'negative'}
CSS = '.artifact-row + .artifact-row { border-top: 1px solid rgba(0, 0, 0, .08) }'


def download_url(run_id: int, artifact_id: int) -> str:
    """The browser's download route (pages/run.py): the signed-in session's, unlike /api/v1's Bearer route."""
    return f'/runs/{run_id}/artifacts/{artifact_id}/download'


async def read_artifacts(user: User, run_id: int) -> list[artifacts.ArtifactView] | None:
    try:
        return await artifacts.listed(user, run_id)
    except ServiceError:  # gone, or no longer this user's to see: the frame follows access changes
        return None


class ArtifactsPanel(ui.column):
    """The artifacts of one run. `load` reads them once the page is built; `apply` takes the hub's changes."""

    def __init__(self, user: User, run_id: int, *, may_edit: bool) -> None:
        super().__init__()
        self.user, self.run_id, self.may_edit = user, run_id, may_edit
        self.shown: dict[int, tuple[artifacts.ArtifactView, ui.element]] = {}
        self.order: list[int] = []
        self.reads = Rereads(partial(read_artifacts, user), self._show, shared_by=('artifacts', user.id))
        self.classes('w-full gap-2 min-w-0').mark('artifacts')
        ui.add_css(CSS)
        with self:
            with ui.row().classes('w-full items-center gap-x-3 gap-y-1'):
                ui.label('Artifacts').classes('text-h6')
                self.count = ui.label().classes('text-grey-7')
                ui.space()
                if may_edit:
                    ui.button('Upload', icon='upload', on_click=self.upload).props('outline').mark('artifact-upload')
            with ui.row().classes('w-full items-start no-wrap gap-2 rounded-borders bg-red-1 text-negative q-pa-sm') \
                    as self.problem:
                ui.icon('error_outline').classes('text-xl')
                self.problem_text = ui.label().classes('break-words min-w-0').mark('artifact-store-problem')
            self.problem.visible = False
            self.empty = ui.markdown('No artifacts yet. Save one from your training code with `run.save("last.ckpt")`'
                                     + (', or upload a file here.' if may_edit else '.')).classes('text-grey-8')
            self.empty.visible = False
            self.list = ui.column().classes('w-full gap-0 min-w-0 rounded-borders border') \
                .style('border: 1px solid rgba(0,0,0,.12)')
            self.list.visible = False

    async def load(self) -> None:
        await self.reads.ask(self.run_id)
        # the store is asked aside: an unreachable endpoint may take a while to say so, and the page is shown meanwhile
        background_tasks.create(self.check_store(), name='artifact-store-check')

    async def check_store(self, *, check: bool = True) -> None:
        """Show what keeps the run's artifacts from being stored (a missing bucket, refused keys), or nothing."""
        try:
            problem = await artifacts.store_problem(self.user, self.run_id, check=check)
        except ServiceError:
            return
        if self.is_deleted:
            return
        self.problem_text.set_text(f'Artifacts cannot be stored: {problem}' if problem else '')
        self.problem.visible = problem is not None

    async def apply(self, change: hub.Change) -> None:
        if change.kind == 'artifact' and change.data.get('run_id') == self.run_id:
            await self.reads.ask(self.run_id)
            await self.check_store(check=False)  # what the store said during that upload

    def _show(self, _run_id: int, views: list[artifacts.ArtifactView] | None) -> None:
        if views is None or self.is_deleted:
            return
        self.count.set_text(f'{len(views)}' if views else '')
        self.empty.visible = not views
        self.list.visible = bool(views)
        order = [v.id for v in views]
        if order != self.order:  # added, removed or reordered: draw the list anew
            self.list.clear()
            self.shown.clear()
        with self.list:
            for view in views:
                known = self.shown.get(view.id)
                if known is not None and known[0] == view:
                    continue
                if known is not None:  # changed in place: that row alone
                    known[1].clear()
                    with known[1]:
                        self._row_content(view)
                    self.shown[view.id] = (view, known[1])
                    continue
                with ui.row().classes('w-full items-start no-wrap gap-3 q-px-md q-py-sm artifact-row') \
                        .mark(f'artifact-{view.id}') as row:
                    self._row_content(view)
                self.shown[view.id] = (view, row)
        self.order = order

    def _row_content(self, view: artifacts.ArtifactView) -> None:
        ui.icon(ICONS.get(view.type, 'description')).classes('text-2xl text-grey-7 q-mt-xs')
        with ui.column().classes('gap-0 grow min-w-0'):
            with ui.row().classes('items-center gap-x-2 gap-y-0 min-w-0 w-full'):
                name = ui.label(view.name).classes('text-body1 text-weight-medium break-all min-w-0')
                name._props['title'] = view.name
                ui.badge(view.type).props('outline color=grey-8')
                with ui.badge(color=STATUS_COLORS.get(view.status, 'grey')).classes('items-center gap-1') \
                        .mark('artifact-status'):
                    if view.status == 'uploading':
                        ui.spinner(size='0.9em', color='white')
                    ui.label(view.status)
            with ui.row().classes('items-center gap-x-3 gap-y-0 text-grey-7 text-body2 min-w-0'):
                ui.label(format.size(view.size_bytes)).classes('whitespace-nowrap')
                if view.sha256:
                    with ui.row().classes('items-center gap-0 no-wrap'):
                        sha = ui.label(f'sha256 {view.sha256[:SHA_SHOWN]}…').classes('font-mono whitespace-nowrap')
                        sha._props['title'] = f'SHA-256 {view.sha256}'
                        copy = ui.button(icon='content_copy', on_click=partial(_copy, view.sha256)) \
                            .props('flat round dense size=xs color=grey-7').mark('artifact-copy-sha')
                        copy._props['aria-label'] = f'Copy the SHA-256 of {view.name}'
                        copy._props['title'] = f'Copy {view.sha256}'
                # when its current bytes were saved (a re-save of a checkpoint replaces them), first saved on hover
                saved = ui.label(format.timestamp(view.updated_at)).classes('whitespace-nowrap') \
                    .mark('artifact-saved-at')
                saved._props['title'] = (f'saved {format.absolute(view.updated_at)}; '
                                         f'first saved {format.absolute(view.created_at)}')
            if view.status == 'failed' and view.error:
                ui.label(view.error).classes('w-full text-negative text-body2 break-words min-w-0') \
                    .mark('artifact-error')  # w-full: a long SHA-256 in it wraps on a phone
        with ui.row().classes('items-center gap-0 no-wrap shrink-0'):
            download = _action('download', f'Download {view.name}', partial(self.download, view.id), 'primary')
            download.set_enabled(view.status == 'ready')
            download.tooltip('Download' if view.status == 'ready' else f'Nothing to download: {view.status}')
            if self.may_edit:
                _action('delete', f'Delete {view.name}', partial(self.delete, view.id, view.name), 'grey-7')

    async def download(self, artifact_id: int) -> None:
        """Off to the download route, once the services say there is something to fetch (else why not, here)."""
        user = await session.current_user()
        if user is None:
            return
        try:
            await artifacts.download(user, self.run_id, artifact_id)
        except ServiceError as error:
            session.refused(error)
            return
        ui.download.from_url(download_url(self.run_id, artifact_id))

    async def delete(self, artifact_id: int, name: str) -> None:
        if not await confirm(f'Delete "{name}"? Its file is removed from the artifact store too.'):
            return
        user = await session.current_user()
        if user is None:
            return
        try:
            await artifacts.delete(user, self.run_id, artifact_id)
        except ServiceError as error:
            session.refused(error)
            return
        ui.notify(f'Deleted "{name}"', type='positive')

    async def upload(self) -> None:
        """A dialog to send files from this browser to the run, each stored as an artifact of the type chosen."""
        limit = settings.current.max_artifact_bytes
        with ui.dialog() as dialog, ui.card().classes('w-[32rem] max-w-full'):
            ui.label('Upload artifacts').classes('text-h6')
            kind = ui.select(list(artifacts.TYPES), value='file', label='Type').classes('w-full') \
                .mark('artifact-type')
            hint = ui.label().classes('text-negative break-words').mark('artifact-upload-hint')
            hint.visible = False

            def refuse(message: str) -> None:
                hint.set_text(message)
                hint.visible = True
                ui.notify(message, type='negative')

            async def received(event: events.UploadEventArguments) -> None:
                hint.visible = False
                await self._store(event.file, kind.value, refuse)

            ui.upload(label=f'Files (up to {format.size(limit)} each)', multiple=True, auto_upload=True,
                      max_file_size=limit, on_upload=received,
                      on_rejected=lambda: refuse(f'A file over {format.size(limit)} ({limit:,} bytes) is more than '
                                                 'this server takes (TRAINBOARD_MAX_ARTIFACT_BYTES).')) \
                .props('flat bordered').classes('w-full').mark('artifact-files')
            ui.label('A file with the name of an artifact the run has already replaces it.').classes('text-grey-7')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=dialog.close).props('flat')
        await dialog
        discard(dialog)

    async def _store(self, file: ui.upload.FileUpload, kind: str, refuse: Callable[[str], None]) -> None:
        user = await session.current_user()
        if user is None:
            return
        directory = settings.current.data_dir / 'browser-uploads'  # the data dir's disk: files may be large
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=directory) as temporary:
                path = Path(temporary) / 'upload'
                await file.save(path)
                stored = await artifacts.store_file(await artifacts.editor(user, self.run_id), name=file.name,
                                                    type=kind, path=path)
        except ServiceError as error:
            refuse(error.message)
            await self.check_store(check=False)
            return
        except OSError as error:
            refuse(f'"{file.name}" could not be received: {error.strerror}.')
            return
        ui.notify(f'Saved "{stored.name}" ({format.size(stored.size_bytes)})', type='positive')


def _copy(text: str) -> None:
    ui.clipboard.write(text)
    ui.notify('SHA-256 copied')


def _action(icon: str, label: str, handler: Callable[[], Awaitable[None]], color: str) -> ui.button:
    """A round icon button of an artifact's row, named for screen readers and marked `artifact-<icon>` for tests."""
    button = ui.button(icon=icon, on_click=handler).props(f'flat round dense color={color}').mark(f'artifact-{icon}')
    button._props['aria-label'] = label  # set, not parsed: a name with a quote stays text
    return button
