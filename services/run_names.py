"""Names for runs launched without one: `<adjective>-<noun>-<n>`, easy to say and to tell apart in a table.

`n` is the project's run count plus one, so names also say roughly when a run came; the words make two launches
at the same moment differ. A name taken in the project is drawn again.
"""

from __future__ import annotations

import random

from models import Run

ADJECTIVES = ('amber', 'bold', 'brave', 'brisk', 'calm', 'clever', 'cosmic', 'crisp', 'daring', 'eager', 'fancy',
              'fierce', 'gentle', 'glad', 'golden', 'grand', 'happy', 'hidden', 'jolly', 'keen', 'lively', 'lucky',
              'mellow', 'misty', 'nimble', 'noble', 'polar', 'proud', 'quiet', 'rapid', 'rustic', 'shiny', 'silent',
              'silver', 'snowy', 'solar', 'steady', 'swift', 'tidy', 'vivid', 'warm', 'wild', 'witty', 'zesty')
NOUNS = ('badger', 'bison', 'cedar', 'comet', 'condor', 'coral', 'crane', 'dune', 'falcon', 'fern', 'finch', 'fjord',
         'glacier', 'heron', 'ibex', 'lagoon', 'lark', 'lynx', 'maple', 'meadow', 'moose', 'nebula', 'orca', 'otter',
         'panda', 'pine', 'plover', 'puffin', 'quartz', 'raven', 'reef', 'river', 'robin', 'sparrow', 'spruce',
         'summit', 'tiger', 'tundra', 'walrus', 'willow', 'wombat', 'yak')
TRIES = 8  # draws before a taken name is accepted with a longer number (never in practice: 1,800 pairs per n)


async def generate(project_id: int, *, rng: random.Random | None = None) -> str:
    """A name no run of the project has: `<adjective>-<noun>-<n>`."""
    draw = rng or random.SystemRandom()
    number = await Run.filter(project_id=project_id).count() + 1
    for attempt in range(TRIES):
        name = f'{draw.choice(ADJECTIVES)}-{draw.choice(NOUNS)}-{number if attempt < TRIES - 1 else number * 1000}'
        if not await Run.exists(project_id=project_id, name=name):
            return name
    return name
