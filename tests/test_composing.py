"""`toynets.composing`: a sweep's jobs composed from cached group choices are exactly the configs
Hydra composes from scratch, Hydra node included, errors included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF_DIR
from toynets import composing

# Group choices (dataset, study, +experiment, hydra/launcher), values, added and forced keys,
# in an order where a composition could leak into a later one with other choices.
JOBS = [
    ["seed=1"],
    ["seed=2", "study=train", "train.lr=0.003"],
    ["model.hidden=[4,4]", "dataset=spiral"],
    ["+experiment=node_removal_circle", "seed=3"],
    ["hydra/launcher=population", "hydra.launcher.max_size=3", "seed=1"],
    ["dataset=spiral", "seed=4"],
    ["++tracking.uri=sqlite:///x.db", "seed=1"],
    ["dataset.noise=0.1", "seed=1", "hydra.job.env_set.A=1"],
    ["model=mlp", "seed=5", "study=train"],
    ["+experiment=node_removal_circle", "seed=4", "dataset=spiral"],
]
BAD = [
    ["train.lrr=0.1"],  # not a key
    ["dataset=nope"],  # not an option
    ["+dataset.noise=0.1"],  # already there
    ["seed=abc"],  # not an int
]


@pytest.fixture
def hydra_context() -> Iterator[None]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield
    composing.uninstall()
    assert not composing._COMPOSED


def _compose(overrides: list[str]) -> str:
    try:
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return OmegaConf.to_yaml(cfg)


def test_cached_compositions_equal_hydras(hydra_context: None) -> None:
    expected = [_compose(job) for job in JOBS + BAD]
    composing.install()
    for _ in range(2):  # first from scratch per group choice, then from the cache
        got = [_compose(job) for job in JOBS + BAD]
        for job, mine, hydras in zip(JOBS + BAD, got, expected, strict=True):
            assert mine == hydras, job
    assert len(composing._COMPOSED) == 7  # the distinct group choices of the valid jobs
    for job in BAD:  # errors, as Hydra's: not configs
        assert "hydra:" not in _compose(job)
        assert _compose(job).split(":")[0].endswith(("Exception", "Error"))
