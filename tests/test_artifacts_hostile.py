"""A hostile review of issue 11's artifacts (review11-hostile): what a hostile training job or project member can do to
the artifact store that they should not. Each test fails on the code as reviewed and says what should hold instead."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.s3 import MotoS3
from tests.test_artifacts import external_run  # noqa: F401  (a project with an external run, and its SDK)

MiB = 1024**2


def bearer(run: dict) -> dict[str, str]:
    return {'Authorization': f'Bearer {run["token"]}'}


def test_a_name_too_long_for_the_disk_is_refused_not_a_500(external_run, server: Server,  # noqa: F811
                                                             api: httpx.Client) -> None:
    """255 characters pass the name check, but a file name holds 255 *bytes*: 'é' * 200 is 400 bytes. The local
    store raised OSError (ENAMETOOLONG) from begin, a 500, after the record was made: a name stuck 'uploading' that
    cannot be deleted either (DELETE is a 500 too). On S3 the same name makes keys over S3's 1,024 bytes."""
    run, _sdk = external_run(server, api)
    name = 'é' * 200
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': name, 'size_bytes': 3}, headers=bearer(run))
    assert answer.status_code == 422, answer.text  # was 500 Internal Server Error
    assert api.get(f'/runs/{run["id"]}/artifacts').json() == []  # was a record stuck 'uploading'


@pytest.mark.parametrize('name', ['\u202egnp.exe', '\u200b', 'a\u0085b', 'a\u2028b'])
def test_invisible_and_reordering_characters_are_refused_in_names(external_run, server: Server,  # noqa: F811
                                                                  api: httpx.Client, name: str) -> None:
    """Control characters are refused, but only C0 and DEL: a bidi override (shown 'exe.png' on the run page), a
    zero-width name (a row with no name), C1 controls and line separators were stored and shown."""
    run, _sdk = external_run(server, api)
    answer = api.post(f'/runs/{run["id"]}/artifacts', json={'name': name, 'size_bytes': 3}, headers=bearer(run))
    assert answer.status_code == 422, answer.text


def test_a_checked_local_artifact_keeps_the_bytes_it_was_checked_with(external_run, server: Server,  # noqa: F811
                                                                      api: httpx.Client) -> None:
    """The uploader sends good bytes, then starts a second PUT of other bytes to the same upload and completes with
    the good bytes' SHA-256 while that PUT is open: the staging file (the second PUT's open file) is renamed into
    place, and the artifact is `ready` with the good SHA-256 while serving the other bytes."""
    run, _sdk = external_run(server, api)
    good, evil = b'G' * 4 * MiB, b'E' * 4 * MiB  # 4 MiB: the local store writes what it has at 4 MiB
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'swap.ckpt', 'size_bytes': len(good)},
                    headers=bearer(run)).json()
    url = f'{server.url}{plan["upload"]["url"]}'
    assert httpx.put(url, content=good, headers=bearer(run), timeout=30).status_code == 200
    written = threading.Event()

    def slowly():
        yield evil
        written.set()
        time.sleep(2)
    second = threading.Thread(target=lambda: httpx.put(url, content=slowly(), headers=bearer(run), timeout=30))
    second.start()
    assert written.wait(10)
    time.sleep(0.5)  # the server has written the other bytes to the staging file
    api.post(plan['complete_url'].removeprefix('/api/v1'), json={'sha256': hashlib.sha256(good).hexdigest()},
             headers=bearer(run))
    second.join()

    [listed] = api.get(f'/runs/{run["id"]}/artifacts').json()
    if listed['status'] == 'ready':
        served = api.get(f'/runs/{run["id"]}/artifacts/{listed["id"]}/download', timeout=30).content
        assert hashlib.sha256(served).hexdigest() == listed['sha256'], 'ready, serving unchecked bytes'


def test_a_finished_run_s_token_uploads_no_more(external_run, server: Server, api: httpx.Client,  # noqa: F811
                                                 tmp_path: Path) -> None:
    """A finished run takes no more reports (409), but its token went on announcing, sending and replacing artifacts
    for ever: a job (or whoever holds its leaked token) could replace the kept `output.log` or a checked checkpoint
    after the run ended, and fill the store."""
    run, sdk = external_run(server, api)
    path = tmp_path / 'last.ckpt'
    path.write_bytes(b'weights')
    sdk.save(str(path))
    sdk.finish(timeout=5)
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'succeeded'
    late = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'last.ckpt', 'size_bytes': 6}, headers=bearer(run))
    assert late.status_code == 409, late.text  # was 201, and the checked checkpoint went back to 'uploading'


def test_completing_an_s3_upload_whose_bytes_never_came_fails_the_artifact_not_the_store(
        external_run, s3_server: Server) -> None:  # noqa: F811
    """The local store says "No bytes arrived for this upload" and fails the artifact; S3 answered 503 "The file is not
    in the bucket (it was removed there)" and marked the whole store failing (logged, shown on the settings page and
    every run page of that store) on one client's mistake."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'never-sent.bin', 'size_bytes': 3},
                    headers=bearer(run)).json()
    done = api.post(plan['complete_url'].removeprefix('/api/v1'), headers=bearer(run),
                    json={'sha256': '0' * 64, 'parts': [{'number': 1, 'md5': '0' * 32}]})
    assert done.status_code == 200, done.text
    assert done.json()['status'] == 'failed'


def test_deleting_a_project_aborts_its_unfinished_multipart_uploads(external_run, s3_server: Server,  # noqa: F811
                                                                     moto_s3: MotoS3) -> None:
    """An artifact's own delete aborts its multipart upload; a project's delete removed finished keys only: the parts
    of an upload in progress stayed in the bucket (billed, never listed), and its presigned part URLs went on taking
    bytes for 6 hours."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)
    plan = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'big.ckpt', 'size_bytes': 40 * MiB},
                    headers=bearer(run)).json()
    assert plan['upload']['kind'] == 'multipart'
    assert httpx.put(plan['upload']['parts'][0]['url'], content=b'\0' * (16 * MiB), timeout=60).status_code == 200
    assert api.delete(f'/projects/{run["project_id"]}').status_code == 204
    prefix = f'trainboard/{run["project_id"]}/'
    left = [u['Key'] for u in moto_s3.client.list_multipart_uploads(Bucket=s3_server.bucket).get('Uploads', [])
            if u['Key'].startswith(prefix)]
    assert left == []


@pytest.mark.browser
def test_the_browser_upload_route_takes_no_more_than_the_artifact_cap(database_url: str, tmp_path: Path) -> None:
    """BodyLimit leaves NiceGUI's upload route uncapped, saying NiceGUI checks its own max_file_size; it does not: that
    is a prop of the browser's uploader. The route (public: /_nicegui is outside the sign-in guard, its client id is
    the only key) read a body of any size, spooled it to /tmp twice and copied it to the data dir before
    TRAINBOARD_MAX_ARTIFACT_BYTES was looked at."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, signed_in
    cap = 1_000_000
    server = Server(helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_MAX_ARTIFACT_BYTES=str(cap))).start()
    try:
        api = server.client()
        project = api.post('/projects', json={'name': 'uploads'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r'}).json()
        small = tmp_path / 'small.txt'
        small.write_text('hi')
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
                tab.goto(f'{server.url}/runs/{run["id"]}')
                with tab.expect_request(lambda request: '/upload/' in request.url) as sent:
                    tab.get_by_role('button', name='Upload').click()
                    tab.locator('input[type=file]').set_input_files(str(small))
                url = sent.value.url
                head = (b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                        b'Content-Type: application/octet-stream\r\n\r\n')
                body = head + b'\0' * (3 * cap) + b'\r\n--XX--\r\n'
                answer = httpx.post(url, content=body, headers={'Content-Type': 'multipart/form-data; boundary=XX'},
                                    timeout=30)  # no cookie: the route does not ask for one
                assert answer.status_code == 413, answer.text  # was 200 {"upload": "success"}
            finally:
                browser.close()
    finally:
        server.stop()


def test_announcing_a_name_at_once_leaves_no_multipart_upload_behind(external_run, s3_server: Server,  # noqa: F811
                                                                      moto_s3: MotoS3) -> None:
    """Each announce of a large file makes a multipart upload and records its id on the one record of that name:
    announces at the same moment (a job retrying, two tabs) each made one, only the last was recorded, and the others
    were never aborted (deleting the artifact aborted the one it knew): parts billed and never listed."""
    api = s3_server.client()
    run, _sdk = external_run(s3_server, api)

    def announce(_: int) -> int:
        return httpx.post(f'{s3_server.url}/api/v1/runs/{run["id"]}/artifacts', headers=bearer(run), timeout=30,
                          json={'name': 'big.ckpt', 'size_bytes': 40 * MiB}).status_code
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(announce, range(8))) == {201}
    [artifact] = api.get(f'/runs/{run["id"]}/artifacts').json()
    assert api.delete(f'/runs/{run["id"]}/artifacts/{artifact["id"]}').status_code == 204
    key = f'trainboard/{run["project_id"]}/{run["id"]}/big.ckpt'
    left = [u for u in moto_s3.client.list_multipart_uploads(Bucket=s3_server.bucket).get('Uploads', [])
            if u['Key'] == key]
    assert left == [], f'{len(left)} multipart uploads of {key} left open'
