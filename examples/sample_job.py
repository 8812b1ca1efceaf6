"""The live runs of "Load sample data": a loop on this machine that reports like a training job, through the SDK.

It trains nothing: its loss, accuracy and learning rate follow made-up curves, so that a new user sees steps,
progress, ETA, charts and logs move without a GPU or a dataset. Standard library only (the job's `python` may be
the system's). It listens to the server: asked to stop, it checkpoints (says so) and ends as stopped.

    python examples/sample_job.py [steps] [seconds per step] [seed]   # with TRAINBOARD_URL, _RUN_ID, _RUN_TOKEN
"""

import math
import os
import random
import sys
import time

if '__file__' in globals():  # run from a checkout; a local job reads it from stdin and has the SDK on PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'sdk'))
import trainboard  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
SECONDS_PER_STEP = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 0
EPOCHS = 6


def main() -> None:
    run = trainboard.init()
    rng = random.Random(SEED)
    run.print(f'sample job: {STEPS} steps of {SECONDS_PER_STEP} s, made-up curves (nothing is trained)')
    with run.step('setup', 'pretending to load a dataset'):
        time.sleep(min(2.0, SECONDS_PER_STEP * 4))
    per_epoch = max(1, STEPS // EPOCHS)
    step = 0
    for epoch in range(1, EPOCHS + 1):
        first, last = step + 1, STEPS if epoch == EPOCHS else min(STEPS, epoch * per_epoch)
        with run.step('training', f'epoch {epoch} of {EPOCHS}'):
            for step in range(first, last + 1):
                loss = 2.3 * math.exp(-step / (STEPS / 4)) + 0.15 + rng.gauss(0, 0.03)
                run.log({'train/loss': loss,
                         'train/accuracy': min(0.99, 0.95 * (1 - math.exp(-step / (STEPS / 5))) + rng.gauss(0, 0.01)),
                         'lr': 3e-4 * 0.5 * (1 + math.cos(math.pi * step / STEPS))}, step=step)
                run.progress(step, STEPS)
                if run.should_stop():
                    run.print(f'asked to stop at step {step}: checkpoint saved (made up), stopping')
                    run.finish('stopped', f'Stopped on request at step {step}.')
                    return
                time.sleep(SECONDS_PER_STEP)
        with run.step('evaluation', f'after epoch {epoch}'):
            run.log({'val/loss': loss * 1.08 + rng.gauss(0, 0.02)}, step=step)
            run.print(f'epoch {epoch} of {EPOCHS}: loss {loss:.3f}')
    run.print('done')
    run.finish()


if __name__ == '__main__':
    main()
