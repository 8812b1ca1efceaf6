"""The arrows of DESIGN.md's house, checked on the import statements of every module (no module is run).

pages, components, api -> services -> models, providers. models/ imports nothing of ours and no web framework;
providers/ never imports models/; services/ import no page, no router and no UI framework; and pages, components and
routers take from models/ only the names they show or check (enums, and User as the caller's type), reading
everything else through services.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {'api', 'components', 'main', 'models', 'pages', 'providers', 'sdk', 'services', 'settings'}
WEB = {'fastapi', 'nicegui', 'starlette', 'uvicorn'}
FORBIDDEN = {
    'models': OURS - {'models'} | WEB,
    'providers': {'api', 'components', 'main', 'models', 'pages', 'services'} | WEB,
    'services': {'api', 'components', 'main', 'pages'} | WEB,
    'components': {'main', 'pages'},
    'api': {'main', 'pages'},
}
# what the web layers may take from models/: enums, and User, the type of whoever asks
MODEL_NAMES_SHOWN = {'MemberRole', 'ProjectStatus', 'Role', 'RunStatus', 'StepStatus', 'User'}
# left for the helpers who own these files (issue 9, item 11); remove an entry once its import is gone
KNOWN: set[tuple[str, str]] = set()  # (module, import) pairs waiting to be moved: none


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in the file, those inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob('*.py'))


def test_each_layer_imports_only_what_lies_below_it() -> None:
    wrong = []
    for package, forbidden in FORBIDDEN.items():
        for path in modules(package):
            where = path.relative_to(ROOT).as_posix()
            for module, _ in imports(path):
                top = module.split('.')[0]
                if top in forbidden and (where, top) not in KNOWN:
                    wrong.append(f'{where} imports {module}')
    assert not wrong, '\n'.join(wrong)


def test_pages_components_and_routers_read_through_services() -> None:
    wrong = []
    for package in ('pages', 'components', 'api'):
        for path in modules(package):
            for module, names in imports(path):
                if module.split('.')[0] == 'models' and (module != 'models' or set(names) - MODEL_NAMES_SHOWN):
                    wrong.append(f'{path.relative_to(ROOT).as_posix()} imports {", ".join(names)} from {module}')
    assert not wrong, '\n'.join(wrong)


def test_the_scan_sees_a_wrong_arrow(tmp_path: Path) -> None:
    module = tmp_path / 'hub.py'
    module.write_text('import json\n\n\ndef later():\n    from nicegui import ui\n    from models import Run, db\n')
    assert imports(module) == [('json', []), ('nicegui', ['ui']), ('models', ['Run', 'db'])]
