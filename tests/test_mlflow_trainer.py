"""A framework end to end: Hugging Face `Trainer(report_to="mlflow")` trains a tiny model (built here, on data made
here: nothing is downloaded) on the CPU for a few steps, and its curves and params land on a Trainboard run."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server
from tests.test_mlflow import run_script

SCRIPT = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel, Trainer, TrainingArguments


class TinyConfig(PretrainedConfig):
    model_type = 'tiny-regressor'

    def __init__(self, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden


class Tiny(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.net = nn.Sequential(nn.Linear(4, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))

    def forward(self, x, labels=None):
        out = self.net(x).squeeze(-1)
        return {'loss': nn.functional.mse_loss(out, labels), 'logits': out}


class Sums(torch.utils.data.Dataset):
    def __init__(self):
        self.x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
        self.y = self.x.sum(-1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return {'x': self.x[index], 'labels': self.y[index]}


args = TrainingArguments(output_dir=OUTPUT, max_steps=20, per_device_train_batch_size=16, logging_steps=2,
                         learning_rate=1e-2, report_to='mlflow', run_name='tiny-trainer', use_cpu=True,
                         save_strategy='no', disable_tqdm=True)
Trainer(model=Tiny(TinyConfig()), args=args, train_dataset=Sums()).train()
'''


@pytest.mark.sqlite_only  # a minute of training; tests/test_mlflow.py checks the protocol on both databases
def test_a_hugging_face_trainer_run_reports_its_loss_learning_rate_and_params(server: Server, api: httpx.Client,
                                                                              tmp_path: Path) -> None:
    experiment = f'trainer-{uuid.uuid4().hex[:6]}'
    script = SCRIPT.replace('OUTPUT', repr(str(tmp_path / 'out')))  # format() would trip on the script's braces
    done = run_script(server, script, MLFLOW_TRACKING_TOKEN=server.token(), MLFLOW_EXPERIMENT_NAME=experiment,
                      HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')
    assert done.returncode == 0, done.stderr[-3000:]

    [project] = [p for p in api.get('/projects').json() if p['name'] == experiment]
    [run] = api.get(f'/projects/{project["id"]}/runs').json()
    assert (run['name'], run['status']) == ('tiny-trainer', 'succeeded')
    assert (run['config']['learning_rate'], run['config']['max_steps'], run['config']['hidden']) == ('0.01', '20', '8')
    metrics = {m['name']: m for m in api.get(f'/runs/{run["id"]}/metrics').json()}
    assert metrics['loss']['count'] == 10 and metrics['learning_rate']['count'] == 10  # every 2nd of 20 steps
    curve = api.get(f'/runs/{run["id"]}/metrics/loss').json()['points']
    assert [step for step, _ in curve] == list(range(2, 21, 2))
    assert curve[-1][1] < curve[0][1]  # it learned
