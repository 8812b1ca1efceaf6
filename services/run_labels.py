"""What a team writes on its runs (tags and a note) and what it does to many runs at once (stop, tag, archive).

Editors and owners write; viewers read. Every input is bounded (what both databases hold, and what a table cell
shows) and refused whole with a message naming what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models import MemberRole, Run, User
from services import audit, bounds, hub, projects, run_control, runs
from services.errors import Conflict, Invalid, NotFound

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NOTE_LENGTH = 2000
MAX_BULK = 1000
TAG = re.compile(r'[\w.:/+=@-]+')  # letters, digits and a few marks: no spaces or commas, which separate tags
BULK_ACTIONS = ('stop', 'tag', 'untag', 'archive', 'unarchive')


@dataclass(kw_only=True, slots=True)
class BulkResult:
    done: int
    skipped: list[str] = field(default_factory=list)  # why each run left alone was, in words


async def set_labels(user: User, run_id: int, *, tags: Any = None, note: Any = None) -> dict[str, Any]:
    """Replace the run's tags and/or note (None leaves one as it is); the run's snapshot after."""
    run = await runs.get_run(user, run_id, MemberRole.EDITOR)
    changed: dict[str, Any] = {}
    if tags is not None:
        changed['tags'] = checked_tags(tags)
    if note is not None:
        changed['note'] = checked_note(note)
    if not changed:
        raise Invalid('Send tags, a note, or both.')
    await Run.filter(id=run.id).update(**changed)
    await audit.record(user, 'run.labelled', 'run', run.id, project_id=run.project_id, **changed)
    await hub.publish(hub.Change(kind='run', action='updated', id=run.id, project_id=run.project_id))
    return await runs.snapshot(await Run.get(id=run.id))


async def bulk(user: User, project_id: int, run_ids: list[int], action: str, tag: str = '') -> BulkResult:
    """Do `action` to each of the project's runs `run_ids`. Stop goes run by run (each through the lifecycle, and a
    run that has ended is skipped with its reason); tag, untag, archive and unarchive are one update each."""
    if action not in BULK_ACTIONS:
        raise Invalid(f'Unknown action "{action}"; one of: {", ".join(BULK_ACTIONS)}.')
    if not run_ids or len(run_ids) > MAX_BULK:
        raise Invalid(f'Select 1 to {MAX_BULK:,} runs.')
    await projects.get_project(user, project_id, MemberRole.EDITOR)
    found = await Run.filter(project_id=project_id, id__in=run_ids).values_list('id', 'tags')
    if len(found) != len(set(run_ids)):
        raise NotFound('Some of these runs are not in this project (deleted meanwhile?); nothing was changed.')
    ids = [run_id for run_id, _ in found]
    if action == 'stop':
        return await _stop_each(user, ids)
    if action in ('archive', 'unarchive'):
        await Run.filter(id__in=ids).update(archived_at=datetime.now(UTC) if action == 'archive' else None)
    else:
        [tag] = checked_tags([tag])
        await _retag(found, tag, add=action == 'tag')
    await audit.record(user, f'runs.{action}', 'project', project_id, project_id=project_id, runs=ids,
                       **({'tag': tag} if tag and action in ('tag', 'untag') else {}))
    # one change for the lot: an open table reads the project's runs again once, not a thousand times
    await hub.publish(hub.Change(kind='runs', action='updated', id=project_id, project_id=project_id))
    return BulkResult(done=len(ids))


def checked_tags(tags: Any) -> list[str]:
    """The tags as stored: stripped, once each, in order; Invalid naming the first bad one."""
    if isinstance(tags, str):
        tags = [part for part in re.split(r'[,\s]+', tags) if part]
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise Invalid('tags must be a list of texts.')
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    if len(cleaned) > MAX_TAGS:
        raise Invalid(f'A run takes at most {MAX_TAGS} tags.')
    for tag in cleaned:
        if len(tag) > MAX_TAG_LENGTH or not TAG.fullmatch(tag):
            raise Invalid(f'The tag "{tag[:MAX_TAG_LENGTH]}" is not valid: 1 to {MAX_TAG_LENGTH} letters, digits or '
                          '. _ - : / + = @, without spaces.')
    return cleaned


def checked_note(note: Any) -> str:
    if not isinstance(note, str):
        raise Invalid('The note must be text.')
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise Invalid(f'The note takes at most {MAX_NOTE_LENGTH:,} characters (this one has {len(note):,}).')
    if problem := bounds.text_problem(note):
        raise Invalid(f'The note {problem}.')
    return note


# --- helpers -------------------------------------------------------------------------------------------------------

async def _stop_each(user: User, ids: list[int]) -> BulkResult:
    result = BulkResult(done=0)
    for run_id in ids:
        try:
            await run_control.act(user, run_id, 'stop')  # publishes the run's change itself
            result.done += 1
        except (Conflict, Invalid) as error:
            result.skipped.append(error.message)
    return result


async def _retag(found: list[tuple[int, Any]], tag: str, *, add: bool) -> None:
    """One UPDATE per distinct new tag list (usually one or two); Invalid, changing nothing, if one would overflow."""
    by_tags: dict[tuple[str, ...], list[int]] = {}
    for run_id, tags in found:
        tags = list(tags or [])
        new = (tags if tag in tags else [*tags, tag]) if add else [t for t in tags if t != tag]
        if len(new) > MAX_TAGS:
            raise Invalid(f'Run {run_id} has {MAX_TAGS} tags already; nothing was changed.')
        if new != tags:
            by_tags.setdefault(tuple(new), []).append(run_id)
    for new_tags, ids in by_tags.items():
        await Run.filter(id__in=ids).update(tags=list(new_tags))
