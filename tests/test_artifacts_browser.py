"""In Debian's Chromium: a checkpoint saved by training code appears on the run page and downloads byte for byte
from the local store (streamed) and from S3 (moto's server, through the bucket's presigned URL); the panel reads well
at 1440 and 390 px with ready, uploading and failed artifacts and long names."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server
from tests.test_browser import browser, signed_in  # noqa: F401  (the shared Chromium and sign-in)

sys.path.insert(0, str(helpers.ROOT / 'sdk'))
import trainboard  # noqa: E402  (the one-file SDK, as training code imports it)

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get('TRAINBOARD_SCREENSHOT_DIR', '/tmp/trainboard-screenshots'))
LONG_NAME = 'resnet50-imagenet-cosine-lr-warmup-5-epochs-batch-1024-epoch-090-val-top1-0.7612-final.safetensors'


def new_run(server: Server, api: httpx.Client, tmp_path: Path) -> tuple[dict, trainboard.Run]:
    project = api.post('/projects', json={'name': f'artifacts {time.time_ns()}'}).json()
    run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'resnet50-cosine'}).json()
    return run, trainboard.Run(server.url, run['id'], run['token'], spool_dir=str(tmp_path / 'spool'))


def download_in_the_browser(browser, server: Server, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        run, sdk = new_run(server, api, tmp_path)
        path = tmp_path / 'last.ckpt'
        path.write_bytes(os.urandom(3 * 1024**2 + 17))
        tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD)
        tab.goto(f'{server.url}/runs/{run["id"]}')
        expect(tab.get_by_text('No artifacts yet.')).to_be_visible()
        started = time.monotonic()
        sdk.save(str(path))  # appears in the open tab, through the hub
        expect(tab.get_by_text('last.ckpt', exact=True)).to_be_visible(timeout=2000)
        assert time.monotonic() - started < 3
        expect(tab.get_by_text('3.0 MiB')).to_be_visible()
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        expect(tab.get_by_text(f'sha256 {sha256[:12]}…')).to_have_attribute('title', f'SHA-256 {sha256}')

        with tab.expect_download() as started_download:
            tab.get_by_role('button', name='Download last.ckpt').click()
        download = started_download.value
        assert download.suggested_filename == 'last.ckpt'
        assert Path(download.path()).read_bytes() == path.read_bytes()
        sdk.finish(timeout=5)
        tab.context.close()


def test_download_from_the_local_store(browser, server: Server, tmp_path: Path) -> None:  # noqa: F811
    download_in_the_browser(browser, server, tmp_path)


def test_download_from_s3(browser, s3_server: Server, tmp_path: Path) -> None:  # noqa: F811
    download_in_the_browser(browser, s3_server, tmp_path)


def test_the_panel_reads_well_wide_and_narrow(browser, server: Server, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect
    with server.client() as api:
        run, sdk = new_run(server, api, tmp_path)
        for name, size, kind in [('last.ckpt', 2 * 1024**2, 'checkpoint'), (LONG_NAME, 300_000, 'model'),
                                 ('eval-results.json', 812, 'eval')]:
            path = tmp_path / name
            path.write_bytes(os.urandom(size))
            sdk.save(str(path), type=kind)
        # one on its way (announced, never sent), one whose bytes did not match what the uploader said
        api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'epoch-091.ckpt', 'type': 'checkpoint',
                                                       'size_bytes': 512 * 1024**2})
        failed = api.post(f'/runs/{run["id"]}/artifacts', json={'name': 'epoch-090.ckpt', 'type': 'checkpoint',
                                                                'size_bytes': 4}).json()
        api.put(failed['upload']['url'].removeprefix('/api/v1'), content=b'abcd')
        api.post(failed['complete_url'].removeprefix('/api/v1'), json={'sha256': '0' * 64})
        sdk.finish(timeout=5)

    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1440, 390):
        tab = signed_in(browser, server.url, ADMIN_EMAIL, ADMIN_PASSWORD, width=width)
        tab.goto(f'{server.url}/runs/{run["id"]}')
        panel = tab.locator('.artifact-row').first
        expect(panel).to_be_visible()
        expect(tab.get_by_text('Checksum mismatch')).to_be_visible()
        expect(tab.locator('.artifact-row')).to_have_count(5)
        overflow = tab.evaluate('document.documentElement.scrollWidth')
        assert overflow <= width, f'the page is {overflow} px wide at {width} px'
        for row in tab.locator('.artifact-row').all():
            box = row.bounding_box()
            assert box['x'] >= 0 and box['x'] + box['width'] <= width
        tab.get_by_text('Artifacts', exact=True).scroll_into_view_if_needed()
        tab.screenshot(path=str(SHOTS / f'run-artifacts-{width}.png'), full_page=True)
        tab.locator('.artifact-row').first.locator('..').screenshot(path=str(SHOTS / f'artifacts-panel-{width}.png'))
        tab.context.close()


def test_the_browser_upload_route_takes_no_more_than_the_artifact_cap(browser, database_url: str,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    """NiceGUI's upload route (outside the sign-in guard: its client id is its only key) read a body of any size,
    spooled it to /tmp and copied it to the data dir before TRAINBOARD_MAX_ARTIFACT_BYTES was looked at (max_file_size
    is a prop of the browser's uploader only). A body over the cap is refused before it is read."""
    from playwright.sync_api import expect
    cap = 1_000_000
    server = Server(helpers.app_env(database_url, tmp_path / 'data', TRAINBOARD_MAX_ARTIFACT_BYTES=str(cap))).start()
    try:
        api = server.client()
        project = api.post('/projects', json={'name': 'uploads'}).json()
        run = api.post(f'/projects/{project["id"]}/runs', json={'name': 'r'}).json()
        small = tmp_path / 'small.txt'
        small.write_text('hi')
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
        assert answer.status_code == 413, answer.text
        chunked = httpx.post(url, content=iter([head, b'\0' * (3 * cap), b'\r\n--XX--\r\n']), timeout=30,
                             headers={'Content-Type': 'multipart/form-data; boundary=XX'})  # no length declared
        assert chunked.status_code == 413, chunked.text
        expect(tab.get_by_text('Saved "small.txt"')).to_be_visible()  # the cap leaves the uploader working
        tab.context.close()
    finally:
        server.stop()
