"""Trainboard's command line, the same for `python main.py` and the one-file binary (`make binary`).

Each flag becomes the TRAINBOARD_* variable that settings.py reads, so a flag wins over its variable and every other
variable still applies. Left to itself, the binary keeps its data in the user's data directory (the place it was
started from may be anywhere), takes another port when 8080 is taken, and opens the browser; `python main.py` keeps
./data as it always has and opens no browser.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from importlib import metadata

import platformdirs

APP_NAME = 'trainboard'
DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Launch:
    open_browser: bool  # on the first page (the setup link on a first start) once the server listens


def is_binary() -> bool:
    """Whether this is the one-file binary (PyInstaller sets sys.frozen) rather than Python running main.py."""
    return bool(getattr(sys, 'frozen', False))


def version() -> str:
    try:
        return metadata.version(APP_NAME)  # the binary carries the project's metadata (scripts/build_binary.py)
    except metadata.PackageNotFoundError:
        return 'unknown'


def default_data_dir() -> str:
    return platformdirs.user_data_dir(APP_NAME, appauthor=False) if is_binary() else 'data'


def parser() -> argparse.ArgumentParser:
    binary = is_binary()
    parser = argparse.ArgumentParser(
        prog=APP_NAME if binary else 'main.py',
        description='Trainboard: a self-hosted control room for GPU training runs. Every TRAINBOARD_* environment '
                    'variable of the README applies; a flag here wins over its variable.')
    parser.add_argument('--host', help=f'address to listen on (TRAINBOARD_HOST; default {DEFAULT_HOST})')
    parser.add_argument('--port', type=int,
                        help=f'port to listen on (TRAINBOARD_PORT; default {DEFAULT_PORT}, or a free one if that is '
                             'taken)')
    parser.add_argument('--data-dir', help='where the database, the key and the files are kept (TRAINBOARD_DATA_DIR; '
                                           f'default {default_data_dir()})')
    parser.add_argument('--no-browser', action='store_true',
                        help='do not open the browser' if binary else 'do not open the browser (only the binary '
                                                                      'opens it)')
    parser.add_argument('--version', action='version', version=f'{APP_NAME} {version()}')
    return parser


def configure(argv: Sequence[str], env: MutableMapping[str, str] = os.environ) -> Launch:
    """Parse the command line (exits on --help, --version or a wrong flag) into `env`, before settings read it."""
    args = parser().parse_args(argv)
    if is_binary():
        restore_library_path(env)
    if args.host:
        env['TRAINBOARD_HOST'] = args.host
    if args.data_dir:
        env['TRAINBOARD_DATA_DIR'] = args.data_dir
    elif not env.get('TRAINBOARD_DATA_DIR'):
        env['TRAINBOARD_DATA_DIR'] = default_data_dir()
    if args.port is not None:
        env['TRAINBOARD_PORT'] = str(args.port)
    elif not env.get('TRAINBOARD_PORT'):
        # a port asked for by flag or variable is kept, taken or not: then the error says so
        host = env.get('TRAINBOARD_HOST') or DEFAULT_HOST
        env['TRAINBOARD_PORT'] = str(DEFAULT_PORT if port_is_free(host, DEFAULT_PORT) else free_port(host))
    return Launch(open_browser=is_binary() and not args.no_browser)


def restore_library_path(env: MutableMapping[str, str]) -> None:
    """The binary's loader points LD_LIBRARY_PATH at the libraries it unpacked, for this process alone: a program it
    starts (the browser) must load the system's own. The linker read it at start-up, so this process keeps its own."""
    if original := env.pop('LD_LIBRARY_PATH_ORIG', None):
        env['LD_LIBRARY_PATH'] = original
    else:
        env.pop('LD_LIBRARY_PATH', None)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # as uvicorn binds: a port whose last connections linger in TIME_WAIT is free to it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
