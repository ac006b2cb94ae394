"""Every config group and experiment composes; bad values stop with a clear message, no run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from conftest import CONF_DIR, EXPERIMENTS, compose_config, run_cli
from toynets.app import run_job
from toynets.config import ConfigError, validate

GROUPS = {
    group: sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
    for group in ("dataset", "model", "train", "study", "tracking")
}
OPTIONS = [(group, option) for group, options in GROUPS.items() for option in options]


def test_every_group_has_options() -> None:
    assert all(GROUPS.values()), GROUPS
    assert len(GROUPS["dataset"]) == 22


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_every_option_composes_and_validates(group: str, option: str) -> None:
    # node_removal (the default study) needs hidden units: the linear models go with `train`
    extra = ["study=train"] if group == "model" else []
    cfg = compose_config([f"{group}={option}", *extra])
    conf = validate(cfg)
    assert getattr(conf, group) is not None
    if group == "dataset":
        assert conf.dataset.name == option


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(experiment: str) -> None:
    validate(compose_config([f"+experiment={experiment}"]))


def test_defaults_are_the_section_1_circle_net() -> None:
    conf = validate(compose_config())
    assert conf.dataset.name == "circle" and not conf.dataset.faithful
    assert conf.dataset.n_train == 1000
    assert conf.model.hidden == [20] and conf.model.activation == "relu"
    assert (conf.train.optimizer, conf.train.lr, conf.train.epochs, conf.train.batch_size) == (
        "adam",
        0.01,
        20,
        32,
    )
    assert conf.study.name == "node_removal" and conf.seed == 0


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ("model.hidden=[8,0]", "model.hidden[1]", "positive"),
        ("model.hidden=[-3]", "model.hidden[0]", "positive"),
        ("model.activation=swish", "model.activation", "relu, sigmoid, tanh, linear"),
        ("model.head=banana", "model.head", "softmax"),
        ("model.initializer=ones", "model.initializer", "glorot_uniform"),
        ("train.optimizer=adagrad", "train.optimizer", "adam, sgd, rmsprop"),
        ("train.lr=0", "train.lr", "> 0"),
        ("train.lr=-0.1", "train.lr", "> 0"),
        ("train.epochs=0", "train.epochs", "> 0"),
        ("train.batch_size=0", "train.batch_size", "> 0"),
        ("dataset.name=moons", "dataset.name", "circle"),
        ("dataset.n_train=0", "dataset.n_train", "> 0"),
        ("dataset.noise=-1", "dataset.noise", ">= 0"),
        ("study.grid=0", "study.grid", "> 0"),
        ("study.box=[1,0,0,1]", "study.box", "min < max"),
        ("train.lr=nan", "train.lr", "finite"),
        ("train.lr=inf", "train.lr", "finite"),
        ("model.init_scale=nan", "model.init_scale", "finite"),
        ("dataset.noise=nan", "dataset.noise", "finite"),
        ("study.box=[0,nan,0,1]", "study.box", "finite"),
        ("max_memory_gb=-inf", "max_memory_gb", "finite"),
        ("max_memory_gb=0", "max_memory_gb", "> 0"),
        ("seed=-1", "seed=-1", "[0, 4294967295]"),
        ("seed=4294967296", "seed", "[0, 4294967295]"),
        ("train.seed=-2", "train.seed", "[0, 4294967295]"),
        ("model.seed=100000000000000000000", "model.seed", "[0, 4294967295]"),
        ("study.mc_seed=-1", "study.mc_seed", "[0, 4294967295]"),
        ("tracking.experiment=..", "tracking.experiment", "plain name"),
        ("tracking.experiment=a/b", "tracking.experiment", "plain name"),
        ("tracking.experiment=' x'", "tracking.experiment", "plain name"),
        ("model.hidden=[]", "model.hidden=[]", "no hidden unit"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config([override]))
    assert key in str(error.value) and allowed in str(error.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config(["train.lr=0", "model.activation=swish"]))
    assert "train.lr" in str(error.value) and "model.activation" in str(error.value)


def test_wrong_types_and_unknown_keys_stop_at_composition() -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)) as error:
        compose_config(["train.epochs=many"])
    assert "epochs" in str(error.value) or "epochs" in str(error.value.__cause__)
    with pytest.raises(ConfigCompositionException, match="model.widht"):
        compose_config(["model.widht=3"])
    with pytest.raises(ConfigError, match="model.widht is not a config key; model has: hidden"):
        validate(compose_config(["+model.widht=3"]))
    with pytest.raises(ConfigError, match="colour is not a config key"):
        validate(compose_config(["+colour=red"]))


def test_dataset_rules_and_head_mismatch_fail_before_any_run(store: str, tmp_path: Path) -> None:
    for overrides, fragment in [
        (["dataset=playground_circle", "dataset.noise=0.9"], "noise"),
        (["dataset=circle", "dataset.n_features=15"], "n_features"),
        (["dataset=fcnn_prod", "model.head=softmax"], "model.head"),
        (["dataset=fcnn_squares", "model.head=logit"], "model.head"),
    ]:
        cfg = compose_config([*overrides, f"tracking.uri={store}"])
        with pytest.raises(ConfigError, match=fragment):
            run_job(cfg)
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


def test_cli_bad_override_gives_clear_error_and_creates_no_run(tmp_path: Path) -> None:
    result = run_cli("train.lr=-1", "model.activation=swish", cwd=tmp_path)
    assert result.returncode != 0
    assert "train.lr=-1" in result.stderr and "must be > 0" in result.stderr
    assert "relu, sigmoid, tanh, linear" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()
    typo = run_cli("train.epochz=3", cwd=tmp_path)
    assert typo.returncode != 0 and "epochz" in typo.stderr
    assert not (tmp_path / "mlruns").exists()


def test_cli_help_and_cfg_job(tmp_path: Path) -> None:
    help_text = run_cli("--help", cwd=tmp_path)
    assert help_text.returncode == 0
    assert "dataset: " in help_text.stdout and "circle" in help_text.stdout
    assert "experiment: " in help_text.stdout and "logreg_halfplane" in help_text.stdout
    job = run_cli("--cfg", "job", "model.hidden=[8,8]", cwd=tmp_path)
    assert job.returncode == 0 and "- 8" in job.stdout and "hidden" in job.stdout
    completion = run_cli("--shell-completion", "install=bash", cwd=tmp_path)
    assert completion.returncode == 0 and "complete -o nospace -o default -F" in completion.stdout
    assert not (tmp_path / "mlruns").exists()


def test_internal_schemas_are_not_options(tmp_path: Path) -> None:
    help_text = run_cli("--help", cwd=tmp_path).stdout
    groups = help_text.split("== Config groups ==")[1].split("== Config ==")[0]
    assert "_schema" not in groups
    assert "study: flow, node_removal, pruning, relevance, train" in groups
    assert "model: logreg, mlp" in groups
    for group in ("dataset", "model", "train", "study", "tracking"):
        refused = run_cli(f"{group}={group}_schema", cwd=tmp_path)
        assert refused.returncode != 0
        assert f"Could not find '{group}/{group}_schema'" in refused.stderr
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert f"available options in '{group}'" in refused.stderr
    assert not (tmp_path / "mlruns").exists()


def test_a_study_node_is_checked_against_its_own_schema() -> None:
    with pytest.raises(ConfigError, match="study.n_masks: Value 'many'"):
        validate(compose_config(["study.n_masks=many"]))
    with pytest.raises(ConfigError, match="study.ps is not a config key; study has: name, grid"):
        validate(compose_config(["study=train", "+study.ps=[0.5]"]))
    with pytest.raises(ConfigError, match="study.exact='maybe' is not allowed; choose one of"):
        validate(compose_config(["study.exact=maybe"]))
    assert validate(compose_config()).study.exact == "auto"
    assert validate(compose_config(["study.exact=false"])).study.exact is False


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "train circle mlp[20] s0"),
        (["train.lr=0.003"], "train circle mlp[20] lr=0.003 s0"),
        (["dataset.faithful=true"], "train circle mlp[20] faithful=true s0"),
        (["train.lr=0.0123456789", "seed=4"], "train circle mlp[20] lr=0.01235 s4"),
        (
            ["train.seed=3", "train=fullbatch"],
            "train circle mlp[20] train.seed=3 train=fullbatch s0",
        ),
        (
            ["dataset=spiral", "model.hidden=[8,8]", "tracking.log_model=false"],
            "train spiral mlp[8,8] s0",
        ),
        (["+experiment=fcnn_prod"], "train fcnn_prod mlp[4] s0"),
        (
            ["model=logreg", "dataset=halfplane", "train.steps=100"],
            "train halfplane logreg steps=100 s0",
        ),
    ],
)
def test_run_names_carry_the_overrides(overrides: list[str], name: str) -> None:
    """Runs that differ in an override differ in name; what the name shows already (dataset,
    model, seed, study) and what does not change the net (tracking) stays out."""
    from toynets import tracking
    from toynets.app import describe_model, describe_run

    cfg = compose_config(["study=train", *overrides])
    conf = validate(cfg)
    head = "logit" if conf.model.head == "logit" else "softmax"
    params = tracking.flatten(OmegaConf.to_container(cfg, resolve=True))
    shown = describe_run(
        conf.study.name,
        conf.dataset.name,
        describe_model(conf.model.hidden, head),
        conf.seed,
        ["study=train", *overrides],
        params,
    )
    assert shown == name


@pytest.mark.parametrize(
    ("override", "piece"),
    [
        ("train.lr=1e-3", "lr=0.001"),  # numbers with a dot or an exponent to 4 digits
        ("train.lr=0.000123456", "lr=0.0001235"),
        ("dataset.n_train=123456", "n_train=123456"),  # integers as typed
        ("study.box=[-1, 1, -1, 1]", "box=[-1,1,-1,1]"),  # no spaces in a name's piece
        ("+study.note=x", "note=x"),
        ("++train.lr=0.5", "lr=0.5"),
    ],
)
def test_run_name_values_as_written_and_short(override: str, piece: str) -> None:
    from toynets.app import describe_run

    params = {"train.lr": 1, "dataset.n_train": 1, "study.box": 1, "study.note": 1}
    assert describe_run("s", "d", "m", 0, [override], params) == f"s d m {piece} s0"


def test_long_run_names_are_cut() -> None:
    from toynets.app import describe_run

    overrides = [f"dataset.n_train={1000 + i}" for i in range(40)]
    name = describe_run("train", "circle", "mlp[20]", 0, overrides, {"dataset.n_train": 1})
    assert len(name) <= 120 and name.endswith("more s0") and name.startswith("train circle")


def test_run_names_are_cut_only_past_120_characters() -> None:
    from toynets.app import describe_run

    head = "train circle mlp[20]"
    exactly = f"model.activation={'a' * (120 - len(head) - len(' activation=') - len(' s0'))}"
    name = describe_run("train", "circle", "mlp[20]", 0, [exactly], {"model.activation": 1})
    assert len(name) == 120 and "more" not in name
    # Past 120: pieces are kept while the head and the kept pieces fit in 100 characters.
    first = f"model.activation={'a' * (100 - len(head) - len(' activation='))}"
    params = {"model.activation": 1, "model.initializer": 1}
    name = describe_run(
        "train", "circle", "mlp[20]", 0, [first, "model.initializer=" + "b" * 30], params
    )
    assert name == f"{head} {first.removeprefix('model.')} +1 more s0"


def test_seeds_at_the_limits_are_accepted() -> None:
    conf = validate(compose_config(["seed=4294967295", "train.seed=0", "study=train"]))
    assert conf.seed == 2**32 - 1 and conf.train.seed == 0


def test_an_unset_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="train.lr: the environment variable TOYNETS_NOPE"):
        validate(compose_config(["train.lr=${oc.env:TOYNETS_NOPE}"]))
