"""Ours over pyinstaller-hooks-contrib's, which bundles every NiceGUI element's JavaScript: the elements Trainboard
never shows (NiceGUI imports each only when a page uses it) are left out, a third of NiceGUI's files."""

from PyInstaller.utils.hooks import collect_data_files

UNUSED = ['aggrid', 'codemirror', 'joystick', 'json_editor', 'leaflet', 'mermaid', 'plotly', 'scene', 'xterm']
excludes = [f'elements/{name}/**' for name in UNUSED] + ['static/sass.dart.js', 'elements/*/src/**']
datas = collect_data_files('nicegui', excludes=excludes)
