"""The memory estimate that refuses absurd jobs: its counts against the arrays a real job
allocates, its refusals, and the peak resident size a real job reaches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compose_config, user_env
from toynets.budget import GIB, estimate, gib, n_weights, over_budget
from toynets.config import validate
from toynets.errors import ConfigError


def part(config, what: str) -> float:
    return next(p.nbytes for p in estimate(config) if p.what.startswith(what))


def test_weight_count_by_hand() -> None:
    # 2 -> 20 -> 2: (2 + 1) * 20 + (20 + 1) * 2 = 102; 3 -> 4 -> 5 -> 1: 16 + 25 + 6 = 47
    assert n_weights([2, 20, 2]) == 102
    assert n_weights([3, 4, 5, 1]) == 47
    assert n_weights([15, 1]) == 16


def test_training_parts_bound_the_arrays_a_real_job_records() -> None:
    from toynets import data as datasets
    from toynets.model import build
    from toynets.train import fit, seed_everything

    overrides = ["study=train", "train.epochs=3", "train.batch_size=50", "model.hidden=[6,5]"]
    config = validate(compose_config(overrides))
    seed_everything(0)
    data = datasets.make(config.dataset, 0)
    model = build(config.model, data.n_features, "softmax", data.n_classes, seed=0)
    history = fit(model, data, config.train, "softmax", seed=0)
    snapshots = sum(v.nbytes for k, v in history.snapshot_arrays().items() if k != "step")
    frames = len(history.snapshot_step)  # 3 epochs of 20 steps, one per epoch, and step 0
    assert frames == 4
    # The estimate keeps one frame more than the steps need (the last, off-schedule step).
    assert part(config, "the weight snapshots") == snapshots * (frames + 1) / frames
    assert part(config, "the step losses") == 2 * history.step_loss.nbytes
    x_bytes = data.x_train.nbytes + data.x_test.nbytes
    assert part(config, "the dataset") == 8 * x_bytes  # float64 draws and temporaries


def test_training_parts_by_hand() -> None:
    config = validate(
        compose_config(
            [
                "study=train",
                "dataset.n_train=100",
                "dataset.n_test=50",
                "model.hidden=[4,3]",
                "train.batch_size=30",
                "train.epochs=5",
            ]
        )
    )
    # 4 batches per epoch (100 / 30 rounded up), 20 steps, a snapshot per epoch: 20 / 4 + 2
    # frames of P = 3*4 + 5*3 + 4*2 = 35 weights; a chunk of 4 steps touches 2 epochs.
    assert part(config, "the dataset") == 150 * 2 * 32
    assert part(config, "the weights and optimizer state") == 35 * 24
    assert part(config, "the training activations") == 30 * 7 * 16
    assert part(config, "the evaluations over the train and test sets") == 100 * 9 * 8
    assert part(config, "the step losses") == 20 * 8
    assert part(config, "the shuffles") == 2 * 100 * 4
    assert part(config, "the weight snapshots") == 7 * 35 * 4
    full_batch = validate(compose_config(["study=train", "train.batch_size=null"]))
    assert part(full_batch, "the shuffles") == 0  # full batch: no permutation drawn


def test_exact_enumeration_up_to_the_limit_under_auto() -> None:
    at_limit = validate(compose_config(["model.hidden=[12]", "study.exact_limit=12"]))
    over = validate(compose_config(["model.hidden=[13]", "study.exact_limit=12"]))
    assert part(at_limit, "all 2^12 masks") == 4096 * 32
    assert not [p for p in estimate(over) if p.what.startswith("all 2^")]


def test_node_removal_parts_by_hand() -> None:
    config = validate(
        compose_config(
            [
                "model.hidden=[3,2]",
                "study.ps=[0.5,0.25]",
                "study.n_masks=10",
                "study.test_size=7",
                "study.n_paths=4",
                "study.map_grid=5",
                "study.subsets=[[0]]",
                "study.n_random_subsets=2",
                "study.grid=9",
            ]
        )
    )
    n = 5  # hidden units
    assert part(config, "the Monte Carlo masks") == 20 * n * 12  # 2 ps x 10 masks x 5 units
    # max(1000 masks x widest layer 3, 4096 masks x 2 outputs) x 7 points x 12 bytes
    assert part(config, "a chunk of masks") == max(1000 * 3, 4096 * 2) * 7 * 12
    assert part(config, "the hypercube paths") == 4 * (n + 1) * (n * 5 + 8)
    # 25 points x (1 subset + 2 random + 5 single removals + the full net) x 4 x 8 bytes
    assert part(config, "the small maps") == 25 * 9 * 4 * 8
    assert part(config, "all 2^5 masks") == 32 * 32  # auto: 5 units <= exact_limit 24
    assert part(config, "the input-plane maps") == 81 * (2 + n + 2) * 16
    assert len(estimate(config)) == 7 + 1 + 5


def test_every_part_names_keys_that_exist() -> None:
    from omegaconf import OmegaConf

    for overrides in (["model.hidden=[6]", "study.exact=true"], ["study=train"]):
        cfg = compose_config(overrides)
        config = validate(cfg)
        for piece in estimate(config):
            assert piece.keys, piece
            for key in piece.keys:
                assert OmegaConf.select(cfg, key, default="missing") != "missing", key
        assert sorted(estimate(config), key=lambda p: -p.nbytes) == estimate(config)


def test_gib_prints_gibibytes_and_tebibytes() -> None:
    assert gib(3 * GIB) == "3 GiB"
    assert gib(0.5 * GIB) == "0.5 GiB"
    assert gib(1536 * GIB) == "1.5 TiB"
    assert gib(1023 * GIB) == "1,023 GiB"
    assert gib(4.55e7 * 1024 * GIB) == "45,500,000 TiB"
    assert gib(0.01464 * GIB) == "0.0146 GiB"


def test_absurd_sizes_are_refused_with_the_estimate_and_the_key() -> None:
    config = validate(compose_config(["study=train", "max_memory_gb=1e9"]))
    config.study.grid = 100_000
    message = over_budget(config, 8)
    assert message is not None
    # grid^2 points x (2 inputs + 20 units + 2 outputs) x 8 bytes, twice
    expected = 100_000**2 * 24 * 16
    assert f"input-plane maps {gib(expected)}" in message
    assert "study.grid=100000" in message and "max_memory_gb=8" in message
    assert over_budget(config, expected / GIB + 1) is None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.hidden=[100000000]", "model.hidden=[100000000]"),
        ("train.steps=1000000000000", "train.steps=1000000000000"),
        ("study.grid=100000", "study.grid=100000"),
        ("dataset.n_train=1000000000", "dataset.n_train=1000000000"),
        ("study.n_masks=100000000", "study.n_masks=100000000"),
    ],
)
def test_validate_refuses_what_does_not_fit(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config([override]))
    assert key in str(error.value) and "max_memory_gb=8" in str(error.value)
    assert "GiB" in str(error.value) or "TiB" in str(error.value)


def test_the_limit_is_the_users_to_raise() -> None:
    with pytest.raises(ConfigError, match="max_memory_gb=8"):
        validate(compose_config(["study=train", "study.grid=6000"]))
    validate(compose_config(["study=train", "study.grid=6000", "max_memory_gb=64"]))


def test_exact_enumeration_counts_only_when_it_happens() -> None:
    on = validate(compose_config(["model.hidden=[22]", "study.exact=true"]))
    off = validate(compose_config(["model.hidden=[22]", "study.exact=false"]))
    assert part(on, "all 2^22 masks") == (1 << 22) * 32
    assert not [p for p in estimate(off) if p.what.startswith("all 2^")]


PEAK_RSS = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss(args: list[str], cwd: Path) -> float:
    """The peak resident size in bytes of `toynets ARGS` (Linux reports KiB)."""
    toynets = Path(sys.executable).parent / "toynets"
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(toynets), *args],
        cwd=cwd,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip()) * 1024


@pytest.mark.slow
def test_the_estimate_follows_the_memory_a_job_really_takes(tmp_path: Path) -> None:
    """A large map grid makes the maps most of a job's memory: the growth of the peak resident
    size from grid 200 to grid 2500 is within a factor of 1.5 of the estimate's growth."""
    base = ["study=train", "train.epochs=1", "tracking.log_model=false"]
    small, large = ["study.grid=200"], ["study.grid=2500"]
    measured = peak_rss(base + large, tmp_path) - peak_rss(base + small, tmp_path)
    estimated = sum(p.nbytes for p in estimate(validate(compose_config(base + large)))) - sum(
        p.nbytes for p in estimate(validate(compose_config(base + small)))
    )
    assert measured > 0.5 * GIB
    assert 1 / 1.5 < estimated / measured < 1.5, (gib(estimated), gib(measured))
