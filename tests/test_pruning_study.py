"""The pruning study end to end into a real store, its numbers recomputed from definitions,
and the training facts §3 rests on (weights that never move stay bit-identical)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import compose_config
from toynets import runs
from toynets.app import run_job
from toynets.config import validate
from toynets.data import make
from toynets.net import Layer, Net

SMALL = [
    "+experiment=pruning_spiral",
    "dataset.n_train=200",
    "dataset.n_test=300",
    "model.hidden=[8,6]",
    "train.epochs=6",
    "train.batch_size=50",
    "train.snapshot_every=4",
    "train.eval_every=4",
    "study.seeds=2",
    "study.fractions=[0,0.5]",
    "study.map_grid=20",
    "study.movie_frames=4",
    "study.shapley_permutations=8",
    "study.finetune_steps=6",
    "tracking.log_model=false",
]
CONDITIONS = ["trained", "pruned", "pruned_finetuned", "pruned_first", "pruned_first_fresh"]
CRITERIA = ["random", "activation_std", "mean_abs_activation", "weight_norm", "shapley"]


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("pruning")
    (folder / "mlruns").mkdir()
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    result = run_job(compose_config([*SMALL, f"tracking.uri={uri}"]))
    return runs.load(result.run_id, uri=uri, dst=folder / "run")


def test_every_documented_artifact_is_logged(study_run) -> None:
    run = study_run
    assert run.status == "FINISHED" and run.experiment == "pruning"
    assert {"pruning_maps", "pruning_training", "pruning_finetuning", "pruning_kernels"} <= set(
        run.figures
    )
    assert "pruning_fractions" in run.figures
    assert {"pruning", "pruning_kernels", "history"} <= set(run.tables) | {"history"}
    for name in ("pruning_training", "pruning_finetuning"):
        path = run.figures[name]
        assert path.suffix == ".gif"
        with Image.open(path) as gif:
            assert gif.is_animated and gif.n_frames == 4
            assert gif.info["loop"] == 0


def test_table_has_one_row_per_condition_criterion_fraction_seed(study_run) -> None:
    table = study_run.table("pruning")
    assert list(table.columns) == [
        "condition",
        "criterion",
        "fraction",
        "seed",
        "test_accuracy",
        "test_loss",
        "n_params",
    ]
    keys = set(zip(table.condition, table.criterion, table.fraction, table.seed, strict=True))
    assert len(table) == len(keys) == 5 * 5 * 2 * 2
    assert set(table.condition) == set(CONDITIONS) and set(table.criterion) == set(CRITERIA)
    assert set(table.seed) == {0, 1} and set(table.fraction) == {0.0, 0.5}
    # n_params by hand: 2-8-6-2 = 24 + 54 + 14 = 92; half removed: 2-4-3-2 = 12 + 15 + 8 = 35
    half = table[table.fraction == 0.5]
    assert set(half[half.condition == "trained"].n_params) == {92}
    assert set(half[half.condition != "trained"].n_params) == {35}
    assert set(table[table.fraction == 0.0].n_params) == {92}
    # removing nothing first is the original net, trained the original way
    zero = table[table.fraction == 0.0].set_index(["criterion", "seed", "condition"])
    for criterion in CRITERIA:
        for seed in (0, 1):
            same = zero.sort_index().loc[(criterion, seed)]
            assert same.loc["pruned_first"].test_loss == same.loc["trained"].test_loss
            assert same.loc["pruned"].test_loss == pytest.approx(same.loc["trained"].test_loss)


def test_trained_and_pruned_rows_recomputed_from_the_logged_net(study_run) -> None:
    run = study_run
    table = run.table("pruning")
    conf = validate(compose_config(SMALL))
    data = make(conf.dataset, 0)
    net = run.net
    trained = table[(table.condition == "trained") & (table.seed == 0)]
    # the run's own metric (Keras' float32 evaluation) against the table's
    assert trained.test_accuracy.iloc[0] == pytest.approx(
        run.metrics["final/test_accuracy"], abs=1.5 / 300
    )
    assert trained.test_loss.iloc[0] == pytest.approx(run.metrics["final/test_loss"], rel=1e-4)
    # trained, then the units with the smallest activation std removed, by hand:
    h0 = np.maximum(data.x_train @ net.layers[0].W + net.layers[0].b, 0.0)
    h1 = np.maximum(h0 @ net.layers[1].W + net.layers[1].b, 0.0)
    removed = [np.argsort(h0.std(0), kind="stable")[:4], np.argsort(h1.std(0), kind="stable")[:3]]
    x = data.x_test.astype(np.float64)
    a0 = np.maximum(x @ net.layers[0].W + net.layers[0].b, 0.0)
    a0[:, removed[0]] = h0.mean(0)[removed[0]]
    a1 = np.maximum(a0 @ net.layers[1].W + net.layers[1].b, 0.0)
    a1[:, removed[1]] = h1.mean(0)[removed[1]]
    z = a1 @ net.layers[2].W + net.layers[2].b
    z = z - z.max(1, keepdims=True)
    loss = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(z)), data.y_test])
    accuracy = np.mean(z.argmax(1) == data.y_test)
    row = table[
        (table.condition == "pruned")
        & (table.criterion == "activation_std")
        & (table.fraction == 0.5)
        & (table.seed == 0)
    ].iloc[0]
    assert row.test_loss == pytest.approx(loss, rel=1e-5)
    assert row.test_accuracy == pytest.approx(accuracy)
    orders = np.load(run.data["pruning"])
    assert np.sort(orders["order_activation_std_s0_layer0"][:4]).tolist() == sorted(removed[0])


def test_metrics_and_kernel_table(study_run) -> None:
    run = study_run
    table = run.table("pruning")
    half = table[(table.fraction == 0.5)]
    for criterion in CRITERIA:
        for condition in CONDITIONS:
            rows = half[(half.criterion == criterion) & (half.condition == condition)]
            key = f"pruning/{criterion}/{condition}/test_accuracy"
            assert run.metrics[key] == pytest.approx(rows.test_accuracy.mean(), abs=1e-6)
    kernels = run.table("pruning_kernels")
    assert len(kernels) == 5 * 2 and set(kernels.n_weights) == {4 * 3}
    assert ((kernels.unchanged >= 0) & (kernels.unchanged <= 1)).all()
    assert (kernels.shift_abs_median >= 0).all()


def test_a_net_member_trains_as_its_keras_model_and_dead_weights_never_move() -> None:
    from toynets.model import from_net, to_net
    from toynets.studies.pruning import snapshot_net
    from toynets.train import Member, fit_population

    conf = validate(compose_config(["dataset=spiral", "dataset.n_train=200", "train.epochs=5"]))
    data = make(conf.dataset, 0)
    rng = np.random.default_rng(2)
    W0, b0 = rng.normal(size=(2, 6)) * 0.5, np.zeros(6)
    b0[3] = -100.0  # unit 3 never fires on the data: relu' = 0, so nothing reaches its weights
    W1, b1 = rng.normal(size=(6, 2)) * 0.5, np.zeros(2)
    net = Net((Layer(W0, b0, "relu"), Layer(W1, b1, "softmax")))
    model = from_net(net)
    results = fit_population(
        [Member(net, data, conf.train, 0, "softmax"), Member(model, data, conf.train, 0, "softmax")]
    )
    from_arrays = snapshot_net(net, results[0], -1)
    from_keras = to_net(model)
    for a, b in zip(from_arrays.layers, from_keras.layers, strict=True):
        np.testing.assert_allclose(a.W, b.W, atol=1e-5)
    assert net.layers[0].W is W0  # the Net member itself is left as it was
    trained = from_arrays
    assert np.array_equal(trained.layers[0].W[:, 3], W0[:, 3].astype(np.float32))
    assert trained.layers[0].b[3] == np.float32(-100.0)
    assert np.array_equal(trained.layers[1].W[3], W1[3].astype(np.float32))
    moved = trained.layers[0].W[:, [0, 1, 2, 4, 5]] != W0[:, [0, 1, 2, 4, 5]].astype(np.float32)
    assert moved.all()
