"""Runs on Novita, against a fake that speaks its API: launch to deleted instance, cost, control, faults, orphans."""

import re
import time

import httpx
import pytest

from providers.base import JobSpec, Phase, ProviderError
from providers.novita import NovitaProvider
from tests import helpers
from tests.fakes.novita import API_KEY, FakeNovita
from tests.helpers import Server

launch = helpers.launch_on_novita
running_on_novita = helpers.running_on_novita
wait_for = helpers.wait_for_status


def report(server: Server, run: dict, body: dict) -> dict:
    answer = httpx.post(f'{server.url}/api/v1/runs/{run["id"]}/report', json=body,
                        headers={'Authorization': f'Bearer {run["token"]}'})
    answer.raise_for_status()
    return answer.json()


async def test_products_parse_novitas_quirks(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url)
    products = {p.id: p for p in await provider.products()}
    assert products['4090.16c96g.v2'].price_per_hour == pytest.approx(0.67)  # "67000" in 1/100,000 USD
    assert products['4090.16c96g.v2'].spot_price_per_hour == pytest.approx(0.35)
    assert products['h100.sxm.v1'].price_per_hour == pytest.approx(1.45) and not products['h100.sxm.v1'].available
    with pytest.raises(ProviderError, match='no free GPUs'):
        await provider.launch(JobSpec(run_id=1, name='x', command='', product_id='h100.sxm.v1', image='i',
                                      gpu_count=1))
    with pytest.raises(ProviderError, match='refused the API key'):
        await NovitaProvider('nv-wrong-key', novita.url).products()


async def test_429_storm_is_retried_and_unknown_statuses_are_kept(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url, retry_delay_s=0.01)
    ref = await provider.launch(JobSpec(run_id=1, name='trainboard-run-1', command='', product_id='4090.16c96g.v2',
                                        image='i', gpu_count=1))
    novita.rate_limit_next = 3
    assert (await provider.states([ref]))[ref].phase == Phase.PROVISIONING
    novita.instances[ref].status = 'freezing'  # undocumented: shown, not acted on
    state = (await provider.states([ref]))[ref]
    assert state.phase == Phase.UNKNOWN and state.raw == 'freezing'
    novita.rate_limit_next = 10
    with pytest.raises(ProviderError, match='rate-limiting'):
        await provider.states([ref])
    novita.rate_limit_next = 0
    await provider.terminate(ref)
    await provider.terminate(ref)  # idempotent
    assert (await provider.states([ref]))[ref].phase == Phase.GONE


async def test_the_instance_log_is_read_on_without_our_key(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url)
    ref = await provider.launch(JobSpec(run_id=1, name='trainboard-run-1', command='', product_id='4090.16c96g.v2',
                                        image='i', gpu_count=1))
    novita.instances[ref].log.extend(['pulling image', 'epoch 1'])
    first = await provider.logs(ref)  # the fake refuses a log read that carries an API key
    assert first.lines == ['pulling image', 'epoch 1']
    novita.instances[ref].log.extend(['epoch 2', 'epoch 3'])
    second = await provider.logs(ref, first.cursor)
    assert second.lines == ['epoch 2', 'epoch 3']
    assert (await provider.logs(ref, second.cursor)).lines == []
    novita.instances[ref].log[:] = [f'line {n}' for n in range(2000)]  # more than a tail holds: all of it is new
    assert len((await provider.logs(ref, second.cursor)).lines) == 1000
    await provider.terminate(ref)


async def test_gpu_usage_comes_from_the_metrics_api(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url)
    ref = await provider.launch(JobSpec(run_id=1, name='trainboard-run-1', command='', product_id='4090.16c96g.v2',
                                        image='i', gpu_count=1))
    start = time.time()
    assert await provider.gpu_usage(ref, start - 60) == []  # not running yet: nothing measured
    for _ in range(3):
        novita.advance()
    time.sleep(2.1)
    samples = await provider.gpu_usage(ref, start - 60)
    names = {s.name for s in samples}
    assert names == {'gpu_utilization', 'gpu_memory_utilization'}
    assert all(90 <= s.value <= 96.5 for s in samples if s.name == 'gpu_utilization')  # "93.5" as numbers
    assert all(s.value == 41.0 for s in samples if s.name == 'gpu_memory_utilization')
    assert len(samples) >= 4 and all(s.time >= int(start) for s in samples)
    await provider.terminate(ref)


def test_launch_run_report_success_and_the_instance_is_deleted(cloud_server: Server, novita: FakeNovita) -> None:
    novita.auto_advance = True
    api, run = launch(cloud_server)
    instance = next(iter(novita.instances.values()))
    assert instance.name == f'trainboard-run-{run["id"]}' and instance.gpu_num == 2
    envs = {e['key']: e['value'] for e in instance.envs}
    assert envs['TRAINBOARD_RUN_ID'] == str(run['id']) and envs['TRAINBOARD_RUN_TOKEN'] == run['token']
    assert envs['TRAINBOARD_URL'] == cloud_server.url and envs['SEED'] == '1'
    wait_for(api, run, 'running')
    time.sleep(10)  # long against the poll interval, whose edges the 1% must absorb
    report(cloud_server, run, {'status': {'state': 'succeeded'}})
    helpers.wait_until(lambda: not novita.live())  # deleted once the run ended
    time.sleep(0.5)
    done = api.get(f'/runs/{run["id"]}').json()
    billed = instance.cost()
    assert done['cost_usd'] == pytest.approx(billed, rel=0.01), (done['cost_usd'], billed)
    project = api.get(f'/projects/{done["project_id"]}').json()
    assert project['used_usd'] == pytest.approx(done['cost_usd'], abs=1e-6)
    assert api.get(f'/runs/{run["id"]}').json()['cost_usd'] > 0


def test_a_running_instance_s_log_and_gpu_usage_reach_the_run(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    instance = next(iter(novita.instances.values()))
    instance.log.extend(['Loading checkpoint', 'epoch 1 loss=0.9'])
    lines = lambda: [line['line'] for line in api.get(f'/runs/{run["id"]}/logs').json()]  # noqa: E731
    helpers.wait_until(lambda: lines() == ['Loading checkpoint', 'epoch 1 loss=0.9'])
    instance.log.append('epoch 2 loss=0.7')
    helpers.wait_until(lambda: lines()[-1] == 'epoch 2 loss=0.7')
    metrics = lambda: {m['name']: m for m in api.get(f'/runs/{run["id"]}/metrics').json()}  # noqa: E731
    helpers.wait_until(lambda: metrics().get('system/gpu_utilization', {}).get('count', 0) >= 2)
    usage = metrics()
    assert 90 <= usage['system/gpu_utilization']['value'] <= 96.5
    assert usage['system/gpu_memory_utilization']['value'] == 41.0
    series = api.get(f'/runs/{run["id"]}/metrics/system/gpu_utilization').json()['points']
    assert [p[0] for p in series] == sorted({p[0] for p in series})  # one point per second of the run, no repeats
    time.sleep(0.6)
    assert lines().count('epoch 2 loss=0.7') == 1
    assert api.post(f'/runs/{run["id"]}/actions/cancel').status_code == 202


def test_an_instance_that_exits_without_success_fails_the_run(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    novita.exit(next(iter(novita.instances)))
    done = wait_for(api, run, 'failed')
    assert 'stopped before the run reported success' in done['status_message']


def test_pause_stops_the_instance_and_resume_starts_it(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    novita.auto_advance = False  # the instance stays `stopping` until the test moves it on
    instance = next(iter(novita.instances.values()))
    assert api.post(f'/runs/{run["id"]}/actions/pause').json()['status'] == 'pausing'
    assert report(cloud_server, run, {'logs': ['step 10']})['control'] == {'action': 'pause'}  # checkpoint now
    assert instance.status == 'running'  # stopped once the grace period (1 s) is over, not at once
    helpers.wait_until(lambda: instance.status == 'stopping', timeout=5)
    time.sleep(1.0)  # polls meanwhile: Novita bills a stopping instance, so the run is not paused yet
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'pausing'
    novita.advance()  # stopped: no GPU billing from here
    paused = wait_for(api, run, 'paused')
    assert paused['status_message'].startswith('Paused by ')
    resumed = api.post(f'/runs/{run["id"]}/actions/resume').json()
    assert resumed['status'] == 'resuming'
    helpers.wait_until(lambda: instance.status == 'starting', timeout=5)  # the leader started it
    novita.advance()
    wait_for(api, run, 'running')
    assert api.post(f'/runs/{run["id"]}/actions/cancel').json()['status'] == 'cancelled'
    helpers.wait_until(lambda: not novita.live())


def test_stop_with_checkpoint(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    assert api.post(f'/runs/{run["id"]}/actions/stop').json()['status'] == 'stopping'
    assert report(cloud_server, run, {'logs': ['step 10']})['control'] == {'action': 'stop'}  # checkpoint now
    done = wait_for(api, run, 'stopped')
    assert done['ended_at']


def test_an_outage_changes_no_run_and_shows(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    novita.outage = True
    helpers.wait_until(lambda: 'novita unreachable' in cloud_server.log())  # after the retries give up
    time.sleep(4)  # more failing polls
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'running'
    novita.outage = False
    helpers.wait_until(lambda: 'novita reachable again' in cloud_server.log())
    assert cloud_server.log().count('novita unreachable') == 1  # logged once, not on every poll
    assert api.post(f'/runs/{run["id"]}/actions/cancel').status_code == 202


def test_an_orphan_instance_is_terminated_after_the_grace_period(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = launch(cloud_server)
    orphan = novita.add_orphan('trainboard-run-99999')
    stranger = novita.add_orphan('someone-elses-notebook')
    helpers.wait_until(lambda: novita.instances[orphan].status in {'removing', 'removed'})
    assert novita.instances[stranger].status == 'running'  # not ours: left alone
    novita.instances[stranger].status = 'removed'
    api.post(f'/runs/{run["id"]}/actions/cancel')


def test_the_app_restarts_mid_run_and_resumes(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    cloud_server.stop()
    time.sleep(0.5)
    cloud_server.start()
    report(cloud_server, run, {'status': {'state': 'succeeded'}})
    helpers.wait_until(lambda: not novita.live())
    assert api.get(f'/runs/{run["id"]}').json()['status'] == 'succeeded'


def test_credentials_are_encrypted_and_never_shown(cloud_server: Server) -> None:
    api = cloud_server.client()
    created = api.post('/credentials', json={'provider': 'novita', 'label': 'team', 'secret': API_KEY}).json()
    assert created['secret'] == '••••' + API_KEY[-4:]
    assert API_KEY not in api.get('/credentials').text
    assert api.post(f'/credentials/{created["id"]}/check').json()['ok'] is True
    assert API_KEY not in cloud_server.log()
    bad = api.post('/credentials', json={'provider': 'novita', 'label': 'x', 'secret': 'nv-wrong-key'}).json()
    assert api.post(f'/credentials/{bad["id"]}/check').json() == \
        {'ok': False, 'message': 'Novita refused the API key: check the credential on the settings page.'}
    assert api.delete(f'/credentials/{bad["id"]}').status_code == 204
    products = api.get('/providers/novita/products').json()
    assert {p['id'] for p in products} == {'4090.16c96g.v2', 'h100.sxm.v1'}


def test_stopping_a_run_still_provisioning_deletes_its_instance(cloud_server: Server, novita: FakeNovita) -> None:
    api, run = launch(cloud_server)  # the fake's clock is off: the instance stays at toCreate
    assert api.post(f'/runs/{run["id"]}/actions/stop').json()['status'] == 'stopping'
    done = wait_for(api, run, 'stopped')  # nothing to checkpoint yet: the instance goes, and billing with it
    assert done['status_message'] == 'Stopped by admin@example.com.'
    helpers.wait_until(lambda: not novita.live())


def test_control_during_an_outage_answers_clearly_and_cancel_still_frees_the_instance(
        cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    assert api.post(f'/runs/{run["id"]}/actions/pause').status_code == 202
    instance = next(iter(novita.instances.values()))
    helpers.wait_until(lambda: instance.status == 'exited')
    wait_for(api, run, 'paused')
    novita.outage = True
    resumed = api.post(f'/runs/{run["id"]}/actions/resume')  # asked for; carried out once Novita answers
    assert resumed.status_code == 202 and resumed.json()['status'] == 'resuming'
    helpers.wait_until(lambda: 'Novita unreachable' in (api.get(f'/runs/{run["id"]}').json()['control_error'] or ''))
    assert api.get(f'/runs/{run["id"]}').json()['control_error'].endswith('retrying')
    cancelled = api.post(f'/runs/{run["id"]}/actions/cancel')  # the run ends now; its instance once Novita is back
    assert cancelled.status_code == 202 and cancelled.json()['status'] == 'cancelled'
    assert novita.live()
    novita.outage = False
    helpers.wait_until(lambda: not novita.live())


def test_a_stop_the_cloud_cannot_take_during_an_outage_happens_once_it_can(
        cloud_server: Server, novita: FakeNovita) -> None:
    api, run = running_on_novita(cloud_server, novita)
    assert api.post(f'/runs/{run["id"]}/actions/stop').json()['status'] == 'stopping'
    novita.outage = True  # when the grace period ends, the stop call fails
    helpers.wait_until(lambda: 'Novita unreachable' in (api.get(f'/runs/{run["id"]}').json()['control_error'] or ''))
    shown = api.get(f'/runs/{run["id"]}').json()
    assert novita.live() and shown['status'] == 'stopping'
    assert re.fullmatch(r'Novita unreachable.* since \d\d:\d\d UTC, retrying', shown['control_error'])
    novita.outage = False
    stopped = wait_for(api, run, 'stopped')
    assert stopped['status_message'] == 'Stopped by admin@example.com.' and stopped['control_error'] is None
    helpers.wait_until(lambda: not novita.live())


def test_a_spot_run_bills_the_spot_price_on_the_disk_and_cluster_asked_for(
        cloud_server: Server, novita: FakeNovita) -> None:
    novita.auto_advance = True
    api, run = launch(cloud_server, billing='spot', disk_gb=80, cluster='us-ca-nas-2')
    instance = next(iter(novita.instances.values()))
    assert (instance.created_with['billingMode'], instance.created_with['rootfsSize'],
            instance.created_with['clusterId']) == ('spot', 80, 'us-ca-nas-2')
    assert run['price_per_hour'] == pytest.approx(2 * 0.35)  # "35000" per GPU-hour on spot, 2 GPUs
    wait_for(api, run, 'running')
    time.sleep(3)
    report(cloud_server, run, {'status': {'state': 'succeeded'}})
    helpers.wait_until(lambda: not novita.live())
    time.sleep(0.3)
    # billing's start and end are counted from midpoints between polls: off by up to half a cycle each, and a busy
    # machine's cycles come later than the 0.1 s asked for (0.2 s off, 5.5 %, seen in CI): half a second's worth
    assert api.get(f'/runs/{run["id"]}').json()['cost_usd'] == pytest.approx(instance.cost(), abs=0.7 * 0.5 / 3600)
    refused = api.post(f'/projects/{run["project_id"]}/runs', json={
        'name': 'h100', 'provider': 'novita', 'product_id': 'h100.sxm.v1', 'image': 'i', 'command': 'c',
        'billing': 'auction'})
    assert refused.status_code == 422 and 'billing' in refused.json()['detail']


async def test_a_create_whose_answer_was_lost_makes_one_instance_not_two(novita: FakeNovita) -> None:
    provider = NovitaProvider(API_KEY, novita.url, retry_delay_s=0.01)
    spec = JobSpec(run_id=7, name='trainboard-run-7', command='python train.py', image='pytorch/pytorch:2.4',
                   product_id='4090.16c96g.v2', gpu_count=1)
    novita.lose_create_answers = 1
    with pytest.raises(ProviderError) as lost:  # made, but we cannot know: not repeated blindly
        await provider.launch(spec)
    assert lost.value.retryable and len(novita.live()) == 1
    ref = await provider.launch(spec)  # the next round finds it by its name
    assert [i.id for i in novita.live()] == [ref]
