"""Failed sign-ins slow down the address and the account they came from, parallel guesses included, and a stranger
cannot lock the owner out. The throttle runs on a clock the test moves, so no assertion depends on timing."""

import asyncio
import threading

import pytest

from services import auth, login_throttle
from services.errors import Unauthorized
from services.login_throttle import LoginThrottle, TooManyAttempts
from tests.helpers import Clock

EMAIL = 'ada@example.com'
PASSWORD = 'a long password'
OWNER = '192.0.2.10'
STRANGER = '203.0.113.66'


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The sign-in throttle on a clock that moves only when the test says."""
    clock = Clock()
    monkeypatch.setattr(auth, 'throttle', LoginThrottle(clock=clock))
    return clock


async def test_parallel_guesses_get_one_password_check(orm: str, clock: Clock) -> None:
    await auth.create_user(EMAIL, PASSWORD)
    answers = await asyncio.gather(*(auth.authenticate(EMAIL, f'guess {i}', address=STRANGER) for i in range(20)),
                                   return_exceptions=True)
    assert all(isinstance(answer, Unauthorized | TooManyAttempts) for answer in answers)
    checked = [answer for answer in answers if not isinstance(answer, TooManyAttempts)]
    assert len(checked) == 1  # the other 19 were refused before their password was looked at
    assert 'try again in 1 s' in str(answers[-1])


async def test_one_at_a_time_each_failure_doubles_the_wait(orm: str, clock: Clock) -> None:
    await auth.create_user(EMAIL, PASSWORD)
    for wait_s in (1, 2, 4, 8, 16, 30, 30):
        with pytest.raises(Unauthorized, match='Wrong email or password'):
            await auth.authenticate(EMAIL, 'guess', address=STRANGER)
        with pytest.raises(TooManyAttempts):
            await auth.authenticate(EMAIL, 'guess', address=STRANGER)
        clock.now += wait_s - 0.01
        with pytest.raises(TooManyAttempts):  # even the right password waits its turn
            await auth.authenticate(EMAIL, PASSWORD, address=STRANGER)
        clock.now += 0.01


async def test_the_address_is_blocked_whichever_account_it_tries(orm: str, clock: Clock) -> None:
    await auth.create_user(EMAIL, PASSWORD)
    await auth.create_user('bob@example.com', 'bobs password')
    with pytest.raises(Unauthorized):
        await auth.authenticate(EMAIL, 'guess', address=STRANGER)
    for email in ('bob@example.com', 'nobody@example.com'):
        with pytest.raises(TooManyAttempts):
            await auth.authenticate(email, 'guess', address=STRANGER)


async def test_a_stranger_cannot_lock_the_owner_out(orm: str, clock: Clock) -> None:
    await auth.create_user(EMAIL, PASSWORD)
    await auth.authenticate(EMAIL, PASSWORD, address=OWNER)  # the owner signed in from here before

    for _ in range(5):  # a stranger floods the account, each time its block ends
        with pytest.raises(Unauthorized):
            await auth.authenticate(EMAIL, 'guess', address=STRANGER)
        clock.now += 0.5
        with pytest.raises(TooManyAttempts):  # a newcomer to the account waits too
            await auth.authenticate(EMAIL, PASSWORD, address='198.51.100.7')
        assert (await auth.authenticate(EMAIL, PASSWORD, address=OWNER)).email == EMAIL
        clock.now += login_throttle.MAX_DELAY_S


async def test_guesses_from_a_trusted_address_are_throttled_too(orm: str, clock: Clock) -> None:
    await auth.create_user(EMAIL, PASSWORD)
    await auth.authenticate(EMAIL, PASSWORD, address=OWNER)
    answers = await asyncio.gather(*(auth.authenticate(EMAIL, f'guess {i}', address=OWNER) for i in range(10)),
                                   return_exceptions=True)
    assert sum(not isinstance(answer, TooManyAttempts) for answer in answers) == 1


async def test_unknown_emails_are_throttled_like_known_ones(orm: str, clock: Clock) -> None:
    with pytest.raises(Unauthorized, match='Wrong email or password'):
        await auth.authenticate('nobody@example.com', PASSWORD, address=STRANGER)
    with pytest.raises(TooManyAttempts):
        await auth.authenticate('nobody@example.com', PASSWORD, address=STRANGER)


async def test_ipv6_clients_count_per_network(orm: str, clock: Clock) -> None:
    with pytest.raises(Unauthorized):
        await auth.authenticate(EMAIL, 'guess', address='2001:db8:1:2::1')
    with pytest.raises(TooManyAttempts):  # the same /64: one client with many addresses
        await auth.authenticate('bob@example.com', 'guess', address='2001:db8:1:2::ffff')


async def test_the_throttle_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_throttle, 'MAX_RECORDS', 50)
    throttle = LoginThrottle(clock=Clock())
    for i in range(500):
        async with throttle.attempt(f'10.0.{i // 250}.{i % 250}', f'user{i}@example.com') as attempt:
            attempt.failed()
    assert len(throttle) <= 50


async def test_argon2_runs_off_the_event_loop(orm: str, clock: Clock) -> None:
    loop_thread = threading.get_ident()
    await auth.create_user(EMAIL, PASSWORD)
    await auth.authenticate(EMAIL, PASSWORD, address=OWNER)
    workers = [thread for thread in threading.enumerate() if thread.name.startswith('argon2')]
    assert workers and all(thread.ident != loop_thread for thread in workers)
