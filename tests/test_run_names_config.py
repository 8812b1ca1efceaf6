"""Runs launched without a name get one people can tell apart; a config typed as JSON or key=value lines is stored
as values, not text; a run held up by its provider says the latest reason, from when it began."""

import random
import re

import pytest

from models import Run
from services import auth, projects, run_config, run_names, runs
from services.background import intents
from services.errors import Invalid

NAME = re.compile(r'[a-z]+-[a-z]+-\d+')


async def test_a_run_without_a_name_gets_adjective_noun_number(orm: str) -> None:
    user = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(user, name='vision')
    made = [(await runs.create_run(user, project['id'], name='  '))[0]['name'] for _ in range(5)]
    assert all(NAME.fullmatch(name) for name in made), made
    assert [int(name.rsplit('-', 1)[1]) for name in made] == [1, 2, 3, 4, 5]  # says roughly when, too
    assert len(set(made)) == 5 and 'train' not in made
    named, _ = await runs.create_run(user, project['id'], name='resnet')
    assert named['name'] == 'resnet'  # a name given is kept


async def test_a_generated_name_taken_already_is_drawn_again(orm: str) -> None:
    user = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(user, name='vision')
    first = await run_names.generate(project['id'], rng=random.Random(7))
    await runs.create_run(user, project['id'], name=first.rsplit('-', 1)[0] + '-2')  # what the same draw gives next
    again = await run_names.generate(project['id'], rng=random.Random(7))
    assert again != first.rsplit('-', 1)[0] + '-2' and NAME.fullmatch(again)


def test_key_value_lines_read_as_values() -> None:
    text = 'lr=3e-4\nbatch_size = 64\n# a comment\n\namp=true\nwarmup=None\nlayers=[64, 64]\nopt=adam\nnote="a b"'
    assert run_config.parse(text) == {'lr': 0.0003, 'batch_size': 64, 'amp': True, 'warmup': None,
                                      'layers': [64, 64], 'opt': 'adam', 'note': 'a b'}
    assert run_config.parse('{"lr": 0.1, "model": {"depth": 50}}') == {'lr': 0.1, 'model': {'depth': 50}}
    assert run_config.parse('  ') == {}
    assert run_config.parse('x=inf') == {'x': 'inf'}  # JSON holds no infinity: it stays a word


@pytest.mark.parametrize(('text', 'said'), [
    ('lr=0.1\nbatch_size 64', 'Config line 2 is not key=value'),
    ('{"lr": 0.1,}', 'The config is not valid JSON'),
    ('lr=1\nlr=2', 'Config line 2 sets "lr" a second time.'),
    ('=3', 'Config line 1 is not key=value'),
])
def test_a_bad_config_says_where(text: str, said: str) -> None:
    with pytest.raises(Invalid, match=re.escape(said)):
        run_config.parse(text)


async def test_a_held_up_run_shows_the_latest_reason_since_the_first_failure(orm: str) -> None:
    user = await auth.create_user('ada@example.com', 'a long password')
    project = await projects.create_project(user, name='vision')
    created, _ = await runs.create_run(user, project['id'], name='r')
    run = await Run.get(id=created['id'])
    await intents.could_not([run], 'Add a Novita API key on the settings page first.', 1_800_000_000.0)
    first = (await Run.get(id=run.id)).control_error
    assert first.startswith('Add a Novita API key on the settings page first since ')
    run = await Run.get(id=run.id)
    await intents.could_not([run], 'Novita unreachable: connection refused.', 1_800_000_600.0)
    now = (await Run.get(id=run.id)).control_error
    assert now.startswith('Novita unreachable: connection refused since ')  # the key was added: not said again
    assert now.rpartition(' since ')[2] == first.rpartition(' since ')[2]  # still since the first failure
