"""A real training run that reports to Trainboard: a two-layer MLP (numpy) learning a generated spiral dataset, and
saving its weights as a checkpoint artifact (`mlp.npz`) after each evaluation.

    # with a run launched by Trainboard (the environment carries TRAINBOARD_URL, _RUN_ID, _RUN_TOKEN):
    python examples/train_mlp.py
    # or make an external run in a project with an API key:
    TRAINBOARD_URL=http://127.0.0.1:8080 TRAINBOARD_API_KEY=tb_... python examples/train_mlp.py --project vision
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'sdk'))
import trainboard  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--project', help='project id or name, to create an external run with TRAINBOARD_API_KEY')
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=0.5)
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--delay', type=float, default=0.02, help='seconds per batch, to watch it live')
    parser.add_argument('--checkpoint-every', type=int, default=10, help='epochs between checkpoints (and the last)')
    args = parser.parse_args()
    run = trainboard.init(project=args.project, name='mlp-spiral', config=vars(args)) if args.project \
        else trainboard.init()

    with run.step('setup', 'generating the spiral dataset'):
        x, y = spiral(points_per_class=400, classes=3, seed=0)
        order = np.random.default_rng(1).permutation(len(x))
        x, y = x[order], y[order]
        split = int(0.8 * len(x))
        x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
        model = MLP(2, args.hidden, 3, seed=2)
        run.print(f'{len(x_train)} training and {len(x_val)} validation points')

    batches = (len(x_train) + args.batch_size - 1) // args.batch_size
    total = args.epochs * batches
    step = 0
    for epoch in range(args.epochs):
        with run.step('training', f'epoch {epoch + 1} of {args.epochs}'):
            for start in range(0, len(x_train), args.batch_size):
                xb, yb = x_train[start:start + args.batch_size], y_train[start:start + args.batch_size]
                loss, accuracy = model.train_step(xb, yb, lr=args.lr * (0.5 ** (epoch / 10)))
                step += 1
                run.log({'train/loss': loss, 'train/accuracy': accuracy}, step=step)
                run.progress(step, total)
                if run.should_stop():
                    run.print('asked to stop: leaving early')
                    run.finish('stopped', 'stopped on request')
                    return
                time.sleep(args.delay)
        with run.step('evaluation'):
            val_loss, val_accuracy = model.evaluate(x_val, y_val)
            run.log({'val/loss': val_loss, 'val/accuracy': val_accuracy}, step=step)
            run.print(f'epoch {epoch + 1}: val loss {val_loss:.3f}, accuracy {val_accuracy:.1%}')
        if (epoch + 1) % args.checkpoint_every == 0 or epoch + 1 == args.epochs:
            # the same name each time: the run keeps the latest weights; a save that fails (the bucket is down)
            # is said in the log and training goes on: the next one may work
            try:
                run.save(model.checkpoint(), name='mlp.npz', type='checkpoint')
            except trainboard.ArtifactError as error:
                run.print(f'checkpoint not saved: {error}')
    run.finish()


def spiral(points_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label in range(classes):
        radius = np.linspace(0.0, 1.0, points_per_class)
        angle = np.linspace(label * 4, (label + 1) * 4, points_per_class) + rng.normal(0, 0.2, points_per_class)
        xs.append(np.c_[radius * np.sin(angle), radius * np.cos(angle)])
        ys.append(np.full(points_per_class, label))
    return np.concatenate(xs).astype(np.float64), np.concatenate(ys)


class MLP:
    def __init__(self, inputs: int, hidden: int, outputs: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(0, np.sqrt(2 / inputs), (inputs, hidden))
        self.b1 = np.zeros(hidden)
        self.w2 = rng.normal(0, np.sqrt(2 / hidden), (hidden, outputs))
        self.b2 = np.zeros(outputs)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = np.maximum(0, x @ self.w1 + self.b1)
        logits = hidden @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return hidden, probabilities / probabilities.sum(axis=1, keepdims=True)

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
        hidden, probabilities = self.forward(x)
        loss = float(-np.log(probabilities[np.arange(len(y)), y] + 1e-12).mean())
        accuracy = float((probabilities.argmax(axis=1) == y).mean())
        grad = probabilities.copy()
        grad[np.arange(len(y)), y] -= 1
        grad /= len(y)
        grad_hidden = grad @ self.w2.T * (hidden > 0)
        self.w2 -= lr * hidden.T @ grad
        self.b2 -= lr * grad.sum(axis=0)
        self.w1 -= lr * x.T @ grad_hidden
        self.b1 -= lr * grad_hidden.sum(axis=0)
        return loss, accuracy

    def checkpoint(self) -> str:
        """The weights in a file of their own (numpy's .npz), for run.save."""
        path = os.path.join(tempfile.mkdtemp(prefix='mlp-'), 'mlp.npz')
        np.savez(path, w1=self.w1, b1=self.b1, w2=self.w2, b2=self.b2)
        return path

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        _, probabilities = self.forward(x)
        loss = float(-np.log(probabilities[np.arange(len(y)), y] + 1e-12).mean())
        return loss, float((probabilities.argmax(axis=1) == y).mean())


if __name__ == '__main__':
    main()
