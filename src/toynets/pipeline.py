"""A job's net before training, made one way for everyone: a single job, every launcher and
every study that trains more nets (the pruning study's other seeds) call `prepare`, then train
with `toynets.train.fit` / `fit_population`. No Hydra here: the config is the validated
`Config`."""

from __future__ import annotations

from typing import Any

from toynets import console
from toynets.config import Config
from toynets.errors import ConfigError


def prepare(conf: Config) -> tuple[Any, str, Any]:
    """(data, head, model) of a job: its dataset, the resolved output head and the Keras
    model, initialised from the job's seeds (TensorFlow's seeded too, for the training that
    follows). A dataset that refuses its options is a ConfigError."""
    console.import_tensorflow()
    from toynets import data as datasets
    from toynets.model import build, resolve_head
    from toynets.train import seed_everything

    seed = conf.seed
    try:
        data = datasets.make(conf.dataset, seed if conf.dataset.seed is None else conf.dataset.seed)
    except ValueError as error:
        raise ConfigError(f"invalid config:\n  - dataset: {error}") from error
    head = resolve_head(conf.model.head, data.task)
    seed_everything(seed)
    model_seed = seed if conf.model.seed is None else conf.model.seed
    model = build(conf.model, data.n_features, head, data.n_classes, model_seed)
    return data, head, model


def train_seed(conf: Config) -> int:
    """The seed of a job's batch order: `train.seed`, else the top-level seed."""
    return conf.seed if conf.train.seed is None else conf.train.seed
