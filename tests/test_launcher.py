"""The command line of `python main.py` and of the binary: flags over TRAINBOARD_* variables, and a free port when
the default one is taken (the binary itself: tests/test_binary.py)."""

import socket

import pytest

import launcher


def test_flags_win_over_their_variables_and_the_rest_is_left_alone() -> None:
    env = {'TRAINBOARD_HOST': '0.0.0.0', 'TRAINBOARD_PORT': '9000', 'TRAINBOARD_LOG_LEVEL': 'DEBUG'}
    launch = launcher.configure(['--host', '127.0.0.1', '--port', '9301', '--data-dir', '/tmp/h-binary/x',
                                 '--no-browser'], env)
    assert env == {'TRAINBOARD_HOST': '127.0.0.1', 'TRAINBOARD_PORT': '9301', 'TRAINBOARD_DATA_DIR': '/tmp/h-binary/x',
                   'TRAINBOARD_LOG_LEVEL': 'DEBUG'}
    assert not launch.open_browser


def test_from_a_checkout_the_defaults_stay_as_they_were() -> None:
    env: dict[str, str] = {}
    launch = launcher.configure([], env)
    assert env['TRAINBOARD_DATA_DIR'] == 'data'  # ./data; the binary's is the user's data directory
    assert not launch.open_browser  # only the binary opens it


def test_a_taken_default_port_gives_way_to_a_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(launcher, 'DEFAULT_PORT', port)
        env: dict[str, str] = {}
        launcher.configure([], env)
        assert env['TRAINBOARD_PORT'] != str(port)
        assert launcher.port_is_free('127.0.0.1', int(env['TRAINBOARD_PORT']))
        # a port asked for is kept, taken or not: the server then says it cannot listen there
        asked = {'TRAINBOARD_PORT': str(port)}
        launcher.configure([], asked)
        assert asked['TRAINBOARD_PORT'] == str(port)
        flagged: dict[str, str] = {}
        launcher.configure(['--port', str(port)], flagged)
        assert flagged['TRAINBOARD_PORT'] == str(port)


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        launcher.configure(['--help'], {})
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert all(flag in shown for flag in ('--host', '--port', '--data-dir', '--no-browser', '--version'))


def test_what_the_binary_starts_gets_the_library_path_it_was_started_with() -> None:
    unpacked = {'LD_LIBRARY_PATH': '/tmp/_MEI123', 'LD_LIBRARY_PATH_ORIG': '/opt/lib', 'PATH': '/usr/bin'}
    launcher.restore_library_path(unpacked)
    assert unpacked == {'LD_LIBRARY_PATH': '/opt/lib', 'PATH': '/usr/bin'}
    none_before = {'LD_LIBRARY_PATH': '/tmp/_MEI123'}
    launcher.restore_library_path(none_before)
    assert none_before == {}


def test_listening_on_every_address_links_to_one_that_opens_and_says_it_serves_the_network() -> None:
    import settings
    env = {'TRAINBOARD_HOST': '0.0.0.0', 'TRAINBOARD_PORT': '9000'}
    wide = settings.Settings.from_env(env)
    assert wide.public_url == 'http://127.0.0.1:9000'  # never http://0.0.0.0:9000, which opens on no other machine
    assert settings.serves_the_network_unnamed(wide, env)
    named = {**env, 'TRAINBOARD_PUBLIC_URL': 'https://trainboard.example.com'}
    assert not settings.serves_the_network_unnamed(settings.Settings.from_env(named), named)
    local = {'TRAINBOARD_PORT': '9000'}
    assert not settings.serves_the_network_unnamed(settings.Settings.from_env(local), local)
    assert settings.Settings.from_env({'TRAINBOARD_HOST': '::1', 'TRAINBOARD_PORT': '9'}).public_url == 'http://[::1]:9'
