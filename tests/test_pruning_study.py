"""The pruning study end to end into a real store; every number it reports recomputed from
its definition by the independent reference (tests/pruning_reference.py), its trained nets
against the same nets trained one by one; the training facts §3 rests on (weights that never
move stay bit-identical)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import pruning_reference as ref
from conftest import (
    PROJECT_ROOT,
    compose_config,
    credited_study_report,
    logged_study,
    study_report,
)
from toynets.config import validate
from toynets.data import Dataset, make
from toynets.net import Layer, Net
from toynets.plots.node_removal import map_grid
from toynets.plots.pruning import decision_movie
from toynets.report import Drawing, Movie, Report

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
    "study.fractions=[0,0.1,0.5]",
    "study.grid=20",
    "study.movie_frames=4",
    "study.shapley_permutations=8",
    "study.finetune_steps=6",
    "tracking.log_model=false",
]
CONDITIONS = ["trained", "pruned", "pruned_finetuned", "pruned_first", "pruned_first_fresh"]
CRITERIA = ["random", "activation_std", "mean_abs_activation", "weight_norm", "shapley"]
FRACTIONS = [0.0, 0.1, 0.5]


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory):
    return logged_study(tmp_path_factory.mktemp("pruning"), SMALL)


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
    assert len(table) == len(keys) == 5 * 5 * 3 * 2
    assert set(table.condition) == set(CONDITIONS) and set(table.criterion) == set(CRITERIA)
    assert set(table.seed) == {0, 1} and set(table.fraction) == {0.0, 0.1, 0.5}
    # n_params by hand: 2-8-6-2 = 24 + 54 + 14 = 92; half removed: 2-4-3-2 = 12 + 15 + 8 = 35;
    # a tenth: round(0.8) = round(0.6) = 1 unit of each layer, 2-7-5-2 = 21 + 40 + 12 = 73
    half = table[table.fraction == 0.5]
    assert set(half[half.condition == "trained"].n_params) == {92}
    assert set(half[half.condition != "trained"].n_params) == {35}
    tenth = table[table.fraction == 0.1]
    assert set(tenth[tenth.condition != "trained"].n_params) == {73}
    assert set(table[table.fraction == 0.0].n_params) == {92}
    # removing nothing first is the original net, trained the original way
    zero = table[table.fraction == 0.0].set_index(["criterion", "seed", "condition"])
    for criterion in CRITERIA:
        for seed in (0, 1):
            same = zero.sort_index().loc[(criterion, seed)]
            assert same.loc["pruned_first"].test_loss == same.loc["trained"].test_loss
            assert same.loc["pruned"].test_loss == pytest.approx(same.loc["trained"].test_loss)


def test_the_report_section_is_written_from_the_run(study_run, tmp_path) -> None:
    """docs/render_pruning.py fills §3 of a copy of docs/reproduction.md from the run's
    tables: mean ± std (min – max) over the seeds, and the verdicts those numbers give."""
    doc = tmp_path / "reproduction.md"
    doc.write_text(
        "# Report\n\n<!-- generated: pruning -->\nstale\n<!-- end generated: pruning -->\nafter\n"
    )
    made = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "docs" / "render_pruning.py"),
            study_run.run_id,
            "--uri",
            study_run.uri,
            "--doc",
            str(doc),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    text = doc.read_text()
    assert "stale" not in text and "$" not in text and text.endswith("after\n")
    assert study_run.run_id in text and "seeds 0, 1" in text
    table = study_run.table("pruning")

    def accuracies(condition: str, criterion: str, fraction: float = 0.5) -> np.ndarray:
        rows = table[
            (table.condition == condition)
            & (table.criterion == criterion)
            & (table.fraction == fraction)
        ]
        return rows.sort_values("seed").test_accuracy.to_numpy()

    line = next(x for x in text.splitlines() if x.startswith("| trained, pruned |"))
    cell = line.strip("|").split("|")[1].strip()
    values = accuracies("pruned", "random")
    mean, _, rest = cell.partition(" ± ")
    std, _, span = rest.partition(" (")
    low, _, high = span.rstrip(")").partition(" – ")
    assert float(mean) == pytest.approx(values.mean(), abs=6e-4)
    assert float(std) == pytest.approx(values.std(ddof=1), rel=0.05, abs=1e-4)
    assert (float(low), float(high)) == pytest.approx((values.min(), values.max()), abs=6e-4)
    gain = accuracies("pruned_first", "random") - values
    if (gain > 0.05).all():
        assert "Confirmed for random pruning, in every seed" in text
    else:
        assert "Not in every seed for random pruning" in text
    safe = None  # the first failing fraction ends the run of safe ones
    for fraction in FRACTIONS:
        pruned = accuracies("pruned", "activation_std", fraction).mean()
        if pruned < accuracies("trained", "activation_std", fraction).mean() - 0.02:
            break
        safe = fraction
    shown = re.search(r"\(mean over seeds\) is (none|[\d.]+)\.", " ".join(text.split()))
    assert shown and (shown[1] == "none" if safe is None else float(shown[1]) == safe)
    std_pruned = accuracies("pruned", "activation_std").mean()
    if std_pruned >= accuracies("trained", "random").mean() - 0.02:
        assert "Confirmed for this net, within 0.02" in text
    else:
        assert "Not for this net, more than 0.02 below" in text


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


# ---- every number of the report, against the reference -------------------------------------


@dataclass
class Study:
    """The study's report on SMALL without a store (a mutation run re-runs the study, not the
    job, per mutant), and what the reference needs: the config and each seed's data."""

    report: Report
    conf: object  # the validated Config
    data: dict[int, Dataset]
    job_history: object  # the job's own training History (seed 0)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.report.tables["pruning"])

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.report.arrays["pruning"]

    def params(self, name: str) -> ref.Params:
        return ref.params_of(self.arrays, f"{name}_")

    def rows(self, **where) -> pd.DataFrame:
        table = self.table
        keep = np.ones(len(table), bool)
        for key, value in where.items():
            keep &= table[key].to_numpy() == value
        return table[keep]


@pytest.fixture(scope="session")
def pruning() -> Study:
    trained, report = credited_study_report("pruning", SMALL)
    conf = validate(compose_config(SMALL))
    data = {seed: make(conf.dataset, seed) for seed in (0, 1)}
    return Study(report, conf, data, trained.history)


def removed_by(study: Study, criterion: str, seed: int, fraction: float) -> list[np.ndarray]:
    """The units `criterion` removes at `fraction` (the first of its logged order)."""
    widths = [W.shape[1] for W, _ in study.params(f"trained_s{seed}")[:-1]]
    return [
        np.sort(study.arrays[f"order_{criterion}_s{seed}_layer{i}"][: ref.n_removed(n, fraction)])
        for i, n in enumerate(widths)
    ]


def pruned_params(params: ref.Params, removed: list[np.ndarray], x: np.ndarray) -> ref.Params:
    """The net without the removed units, the next layer's bias taking their mean output
    times their outgoing weights (b~_j = b_j + sum_removed xbar_i w_ij)."""
    means = [h.mean(axis=0) for h in ref.hidden(params, x)]
    out = [(W.copy(), b.copy()) for W, b in params]
    for layer in range(len(removed)):  # b_{l+1} compensated before layer l + 1 is cut
        units = removed[layer]
        keep = np.setdiff1d(np.arange(params[layer][0].shape[1]), units)
        W, b = out[layer]
        W_next, b_next = out[layer + 1]
        b_next = b_next + means[layer][units] @ params[layer + 1][0][units]
        out[layer] = (W[:, keep], b[keep])
        out[layer + 1] = (W_next[keep], b_next)
    return out


def test_the_logged_nets_of_seed_0_are_the_job_s(pruning: Study) -> None:
    snapshots = pruning.job_history.snapshots
    for i, (W, b) in enumerate(pruning.params("initial_s0")):
        np.testing.assert_array_equal(W, snapshots[f"W{i}"][0])
        np.testing.assert_array_equal(b, snapshots[f"b{i}"][0])
    for i, (W, b) in enumerate(pruning.params("trained_s0")):
        np.testing.assert_array_equal(W, snapshots[f"W{i}"][-1])
        np.testing.assert_array_equal(b, snapshots[f"b{i}"][-1])
    assert pruning.arrays["trained_s0_activations"].tolist() == ["relu", "relu", "softmax"]
    net = Net.from_arrays(pruning.arrays, prefix="trained_s1_")
    assert net.hidden_sizes == [8, 6]


def test_orders_follow_the_criteria(pruning: Study) -> None:
    for seed in (0, 1):
        params = pruning.params(f"trained_s{seed}")
        data = pruning.data[seed]
        for criterion in CRITERIA:
            orders = [pruning.arrays[f"order_{criterion}_s{seed}_layer{i}"] for i in (0, 1)]
            for order, n in zip(orders, (8, 6), strict=True):
                assert sorted(order.tolist()) == list(range(n))
            if criterion == "random":
                rng = np.random.default_rng([pruning.conf.study.order_seed, seed])
                assert [o.tolist() for o in orders] == [rng.permutation(n).tolist() for n in (8, 6)]
                continue
            scores = ref.scores(criterion, params, data.x_train, data.y_train)
            for order, score in zip(orders, scores, strict=True):
                if criterion == "shapley":  # float32 losses: equal up to round-off
                    assert np.all(np.diff(score[order]) >= -1e-5), (score, order)
                else:
                    assert order.tolist() == np.argsort(score, kind="stable").tolist()


def test_trained_and_pruned_rows(pruning: Study) -> None:
    for seed in (0, 1):
        params = pruning.params(f"trained_s{seed}")
        data = pruning.data[seed]
        z = ref.logits(params, data.x_test)
        for criterion in CRITERIA:
            for fraction in FRACTIONS:
                row = pruning.rows(
                    condition="trained", criterion=criterion, fraction=fraction, seed=seed
                )
                assert len(row) == 1
                assert row.test_loss.iloc[0] == pytest.approx(ref.cross_entropy(z, data.y_test))
                assert row.test_accuracy.iloc[0] == pytest.approx(ref.accuracy(z, data.y_test))
                assert row.n_params.iloc[0] == ref.n_params([2, 8, 6, 2])
                removed = removed_by(pruning, criterion, seed, fraction)
                small = pruned_params(params, removed, data.x_train)
                z_small = ref.logits(small, data.x_test)
                # the same as the full net with the removed units at their training mean
                means = [h.mean(axis=0) for h in ref.hidden(params, data.x_train)]
                replaced = [{u: means[i][u] for u in r} for i, r in enumerate(removed)]
                np.testing.assert_allclose(
                    z_small, ref.logits(params, data.x_test, replaced), atol=1e-9
                )
                row = pruning.rows(
                    condition="pruned", criterion=criterion, fraction=fraction, seed=seed
                )
                loss = ref.cross_entropy(z_small, data.y_test)
                assert row.test_loss.iloc[0] == pytest.approx(loss, rel=1e-6)
                assert row.test_accuracy.iloc[0] == pytest.approx(
                    ref.accuracy(z_small, data.y_test)
                )
                widths = [2, *(n - len(r) for n, r in zip((8, 6), removed, strict=True)), 2]
                assert widths == {0.0: [2, 8, 6, 2], 0.1: [2, 7, 5, 2], 0.5: [2, 4, 3, 2]}[fraction]
                for condition in CONDITIONS[1:]:
                    row = pruning.rows(
                        condition=condition, criterion=criterion, fraction=fraction, seed=seed
                    )
                    assert row.n_params.iloc[0] == ref.n_params(widths), condition


def test_trained_conditions_rows_are_their_logged_nets(pruning: Study) -> None:
    """The rows of the nets that trained at the main fraction, from the logged weights."""
    for seed in (0, 1):
        data = pruning.data[seed]
        nets = {
            (condition, criterion): f"{condition}_{criterion}_s{seed}"
            for condition in ("pruned_first", "pruned_finetuned")
            for criterion in CRITERIA
        }
        nets |= {("pruned_first_fresh", c): f"pruned_first_fresh_s{seed}" for c in CRITERIA}
        for (condition, criterion), name in nets.items():
            z = ref.logits(pruning.params(name), data.x_test)
            row = pruning.rows(condition=condition, criterion=criterion, fraction=0.5, seed=seed)
            assert row.test_loss.iloc[0] == pytest.approx(
                ref.cross_entropy(z, data.y_test), rel=1e-6
            ), name
            assert row.test_accuracy.iloc[0] == pytest.approx(ref.accuracy(z, data.y_test))


REFERENCE_NETS: dict[tuple, ref.Params] = {}  # once per process (a mutation run's sessions)


def trained_alone(key: tuple, start, conf, data: Dataset, train_config) -> ref.Params:
    """`start` (a Keras model, or (W, b) pairs) trained by itself with `fit`: the job's
    trainer, one net at a time, seeded by the job's seed."""
    if key not in REFERENCE_NETS:
        from toynets.model import from_net, to_net
        from toynets.train import fit

        if isinstance(start, list):
            layers = [Layer(W, b, "relu") for W, b in start[:-1]]
            start = from_net(Net((*layers, Layer(*start[-1], "softmax"))))
        fit(start, data, train_config, "softmax", conf.seed)
        REFERENCE_NETS[key] = [(layer.W, layer.b) for layer in to_net(start).layers]
    return REFERENCE_NETS[key]


def assert_close_nets(got: ref.Params, expected: ref.Params, what: str) -> None:
    for (W, b), (W_ref, b_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(W, W_ref, atol=2e-4, err_msg=what)
        np.testing.assert_allclose(b, b_ref, atol=2e-4, err_msg=what)


def test_every_net_trained_as_it_would_train_alone(pruning: Study) -> None:
    """Seed 1's net, and at the main fraction the pruned-first nets (the pruned initial net,
    compensated with the initial net's means), the fine-tuned ones (the pruned trained net,
    `finetune_steps` more steps) and the fresh ones (model seed + 1000), each trained alone
    with the job's schedule, equal the study's within float32 round-off."""
    from toynets.model import build, to_net
    from toynets.pipeline import prepare

    base = pruning.conf
    for seed in (0, 1):
        conf = dataclasses.replace(base, seed=seed)
        data, _, model = prepare(conf)
        initial = [(layer.W, layer.b) for layer in to_net(model).layers]
        assert_close_nets(pruning.params(f"initial_s{seed}"), initial, f"initial s{seed}")
        if seed == 1:
            trained = trained_alone(("trained", 1), model, conf, data, conf.train)
            assert_close_nets(pruning.params("trained_s1"), trained, "trained s1")
        fresh_model = build(
            dataclasses.replace(conf.model, hidden=[4, 3]), 2, "softmax", 2, seed + 1000
        )
        fresh = trained_alone(("fresh", seed), fresh_model, conf, data, conf.train)
        assert_close_nets(pruning.params(f"pruned_first_fresh_s{seed}"), fresh, "fresh")
        finetune = dataclasses.replace(conf.train, steps=base.study.finetune_steps, epochs=None)
        for criterion in CRITERIA:
            removed = removed_by(pruning, criterion, seed, 0.5)
            key = tuple(tuple(r.tolist()) for r in removed)
            start = pruned_params(initial, removed, data.x_train)
            first = trained_alone(("first", seed, key), start, conf, data, conf.train)
            name = f"pruned_first_{criterion}_s{seed}"
            assert_close_nets(pruning.params(name), first, name)
            tuned_start = pruned_params(pruning.params(f"trained_s{seed}"), removed, data.x_train)
            tuned = trained_alone(("tune", seed, key), tuned_start, conf, data, finetune)
            name = f"pruned_finetuned_{criterion}_s{seed}"
            assert_close_nets(pruning.params(name), tuned, name)


def test_metrics_are_the_means_over_seeds(pruning: Study) -> None:
    half = pruning.rows(fraction=0.5)
    kernels = pd.DataFrame(pruning.report.tables["pruning_kernels"])
    for criterion in CRITERIA:
        for condition in CONDITIONS:
            rows = half[(half.criterion == criterion) & (half.condition == condition)]
            assert len(rows) == 2
            key = f"pruning/{criterion}/{condition}/test_accuracy"
            assert pruning.report.metrics[key] == pytest.approx(rows.test_accuracy.mean())
        mine = kernels[kernels.criterion == criterion]
        for name in ("unchanged", "correlation", "shift_abs_median"):
            key = f"pruning/{criterion}/kernel_{name}"
            assert pruning.report.metrics[key] == pytest.approx(mine[name].mean())
    expected = {
        f"pruning/{criterion}/{condition}/test_accuracy"
        for criterion in CRITERIA
        for condition in CONDITIONS
    } | {
        f"pruning/{criterion}/kernel_{name}"
        for criterion in CRITERIA
        for name in ("unchanged", "correlation", "shift_abs_median")
    }
    assert set(pruning.report.metrics) == expected


def test_kernel_table(pruning: Study) -> None:
    kernels = pd.DataFrame(pruning.report.tables["pruning_kernels"])
    assert len(kernels) == 5 * 2
    for seed in (0, 1):
        trained = pruning.params(f"trained_s{seed}")
        initial = pruning.params(f"initial_s{seed}")
        never = float(np.mean(initial[1][0] == trained[1][0]))
        for criterion in CRITERIA:
            removed = removed_by(pruning, criterion, seed, 0.5)
            rows = np.setdiff1d(np.arange(8), removed[0])
            columns = np.setdiff1d(np.arange(6), removed[1])
            a = trained[1][0][np.ix_(rows, columns)]
            b = pruning.params(f"pruned_first_{criterion}_s{seed}")[1][0]
            unchanged, median, correlation = ref.kernel_comparison(a, b)
            row = kernels[(kernels.criterion == criterion) & (kernels.seed == seed)].iloc[0]
            assert row.n_weights == 12
            assert row.unchanged == pytest.approx(unchanged)
            assert row.shift_abs_median == pytest.approx(median)
            assert row.correlation == pytest.approx(correlation)
            assert row.never_updated_trained == pytest.approx(never)
            if seed == 0:  # the figure shows seed 0's pairs
                figure = pruning.report.figures["pruning_kernels"]
                pairs, titles, _, _, shown = figure.args
                k = CRITERIA.index(criterion)
                assert titles[k] == criterion and shown[k] == pytest.approx(unchanged)
                np.testing.assert_array_equal(pairs[k][0], a)
                np.testing.assert_array_equal(pairs[k][1], b)
                limit = np.abs(initial[1][0]).max()
                assert figure.kwargs["init_limit"] == pytest.approx(limit)
                assert figure.kwargs["zoom"] == pytest.approx(2 * limit)


def test_fraction_figure_is_the_table_s_mean_and_spread(pruning: Study) -> None:
    drawing = pruning.report.figures["pruning_fractions"]
    assert isinstance(drawing, Drawing)
    fractions, panels, series, mean, spread, label = drawing.args
    assert fractions.tolist() == FRACTIONS and list(panels) == CRITERIA and len(series) == 5
    assert label == "test accuracy"
    table = pruning.table
    for i, criterion in enumerate(CRITERIA):
        for j, condition in enumerate(CONDITIONS):
            for k, fraction in enumerate(FRACTIONS):
                values = table[
                    (table.criterion == criterion)
                    & (table.condition == condition)
                    & (table.fraction == fraction)
                ].test_accuracy
                assert mean[i, j, k] == pytest.approx(values.mean())
                assert spread[i, j, k] == pytest.approx(values.std(ddof=1))
    assert "2 seeds" in drawing.kwargs["suptitle"]


def softmax_map(params: ref.Params, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    g1, g2 = np.meshgrid(x1, x2)
    z = ref.logits(params, np.stack([g1.ravel(), g2.ravel()], axis=1))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).reshape(*g1.shape, -1)


def test_map_grid_shows_every_condition_and_criterion(pruning: Study) -> None:
    assert pruning.report.images == {"pruning_maps": int(pruning.job_history.snapshot_step[-1])}
    drawing = pruning.report.figures["pruning_maps"]
    x1, x2, probabilities, titles, truth = drawing.args
    data = pruning.data[0]
    assert len(x1) == len(x2) == 20
    assert truth is None and data.truth is None  # the spiral has no closed-form boundary
    assert (x1[0], x1[-1], x2[0], x2[-1]) == pytest.approx(data.domain, abs=1e-6)
    assert drawing.function is map_grid and len(probabilities) == 25
    suptitle = "0.5 of the units removed, seed 0, test accuracy"
    assert drawing.kwargs == {"columns": 5, "suptitle": suptitle}
    trained = pruning.params("trained_s0")
    for i, condition in enumerate(CONDITIONS):
        for j, criterion in enumerate(CRITERIA):
            if condition == "trained":
                params = trained
            elif condition == "pruned":
                params = pruned_params(
                    trained, removed_by(pruning, criterion, 0, 0.5), data.x_train
                )
            elif condition == "pruned_first_fresh":
                params = pruning.params("pruned_first_fresh_s0")
            else:
                params = pruning.params(f"{condition}_{criterion}_s0")
            panel = i * 5 + j
            np.testing.assert_allclose(probabilities[panel], softmax_map(params, x1, x2), atol=1e-5)
            accuracy = pruning.rows(
                condition=condition, criterion=criterion, fraction=0.5, seed=0
            ).test_accuracy.iloc[0]
            assert titles[panel].startswith(f"{criterion}\n")
            assert titles[panel].endswith(f": {accuracy:.0%}")


def test_movies_show_the_nets_from_start_to_end(pruning: Study) -> None:
    data = pruning.data[0]
    training = pruning.report.figures["pruning_training"]
    assert isinstance(training, Movie) and training.function is decision_movie
    assert training.kwargs == {"columns": 4, "suptitle": "training, 0.5 removed first"}
    x1, x2, maps, steps, titles, _ = training.args
    job_steps = pruning.job_history.snapshot_step
    assert len(steps) == 4 and steps[0] == 0 and steps[-1] == job_steps[-1]
    assert set(steps) <= set(job_steps.tolist())
    assert titles[0] == "trained" and titles[-1] == "pruned first\nfresh init"
    assert len(titles) == 7 and maps.shape[:2] == (4, 7)
    initial, trained = pruning.params("initial_s0"), pruning.params("trained_s0")
    np.testing.assert_allclose(maps[0, 0], softmax_map(initial, x1, x2), atol=1e-5)
    np.testing.assert_allclose(maps[-1, 0], softmax_map(trained, x1, x2), atol=1e-5)
    for j, criterion in enumerate(CRITERIA):
        assert titles[j + 1] == f"pruned first\n{criterion}"
        removed = removed_by(pruning, criterion, 0, 0.5)
        start = pruned_params(initial, removed, data.x_train)
        np.testing.assert_allclose(maps[0, j + 1], softmax_map(start, x1, x2), atol=1e-5)
        end = pruning.params(f"pruned_first_{criterion}_s0")
        np.testing.assert_allclose(maps[-1, j + 1], softmax_map(end, x1, x2), atol=1e-5)
    tuning = pruning.report.figures["pruning_finetuning"]
    assert tuning.function is decision_movie
    assert tuning.kwargs == {"columns": 4, "suptitle": "fine-tuning after removing 0.5"}
    x1, x2, maps, steps, titles, _ = tuning.args
    assert list(titles) == CRITERIA and steps[0] == 0 and steps[-1] == 6
    for j, criterion in enumerate(CRITERIA):
        removed = removed_by(pruning, criterion, 0, 0.5)
        start = pruned_params(trained, removed, data.x_train)
        np.testing.assert_allclose(maps[0, j], softmax_map(start, x1, x2), atol=1e-5)
        end = pruning.params(f"pruned_finetuned_{criterion}_s0")
        np.testing.assert_allclose(maps[-1, j], softmax_map(end, x1, x2), atol=1e-5)


OTHER_NETS = [
    "study.seeds=2",
    "study.fractions=[0,0.5]",
    "study.grid=12",
    "study.movie_frames=2",
    "study.criteria=[random,activation_std,shapley]",
    "train.epochs=2",
]


def test_a_maxout_net_with_one_hidden_layer_and_a_logit_head() -> None:
    """The middle kernel of one hidden layer is W0, k columns per unit; P(class 1) of the
    logit head is the sigmoid of its one output."""
    overrides = [
        "study=pruning",
        "model.activation=maxout",
        "model.maxout_k=2",
        "model.hidden=[6]",
        "model.head=logit",
        *OTHER_NETS,
    ]
    trained, report = study_report(overrides)
    table = pd.DataFrame(report.tables["pruning"])
    assert len(table) == 5 * 3 * 2 * 2 and not table.test_accuracy.isna().any()
    kernels = pd.DataFrame(report.tables["pruning_kernels"])
    assert set(kernels.n_weights) == {2 * 3 * 2}  # 2 inputs x (3 kept units x 2 columns)
    # removing nothing leaves the trained net
    zero = table[table.fraction == 0.0]
    for condition in ("pruned", "pruned_first"):
        np.testing.assert_allclose(
            zero[zero.condition == condition].test_loss.to_numpy(),
            zero[zero.condition == "trained"].test_loss.to_numpy(),
            rtol=1e-6,
        )
    net = trained.net
    x1, x2, probabilities, _, _ = report.figures["pruning_maps"].args
    g1, g2 = np.meshgrid(x1, x2)
    points = np.stack([g1.ravel(), g2.ravel()], axis=1)
    z = points @ net.layers[0].W + net.layers[0].b
    h = z.reshape(len(z), 6, 2).max(axis=-1)
    logit = (h @ net.layers[1].W + net.layers[1].b)[:, 0]
    p1 = 1 / (1 + np.exp(-logit))
    np.testing.assert_allclose(probabilities[0][..., 1].ravel(), p1, atol=1e-5)
    np.testing.assert_allclose(probabilities[0][..., 0].ravel(), 1 - p1, atol=1e-5)


def test_a_regression_net_reports_losses_and_draws_no_maps() -> None:
    overrides = ["study=pruning", "dataset=fcnn_prod", "model.hidden=[5,4]", *OTHER_NETS]
    trained, report = study_report(overrides)
    table = pd.DataFrame(report.tables["pruning"])
    assert table.test_accuracy.isna().all() and not table.test_loss.isna().any()
    data = trained.data
    row = table[(table.condition == "trained") & (table.seed == 0)].iloc[0]
    expected = np.mean((trained.net.predict(data.x_test)[:, 0] - data.y_test) ** 2)
    assert row.test_loss == pytest.approx(expected, rel=1e-6)
    assert set(report.figures) == {"pruning_kernels", "pruning_fractions"}
    fractions, _, _, mean, _, label = report.figures["pruning_fractions"].args
    assert label == "test loss" and fractions.tolist() == [0.0, 0.5]
    for i, criterion in enumerate(["random", "activation_std", "shapley"]):
        for j, condition in enumerate(CONDITIONS):
            rows = table[(table.criterion == criterion) & (table.condition == condition)]
            half = rows[rows.fraction == 0.5].test_loss.mean()
            assert report.metrics[f"pruning/{criterion}/{condition}/test_loss"] == pytest.approx(
                half
            )
            assert mean[i, j, 1] == pytest.approx(half)
            assert mean[i, j, 0] == pytest.approx(rows[rows.fraction == 0.0].test_loss.mean())
    assert any("classification only" in note for note in report.notes)


def test_each_extra_net_moves_every_seed_the_job_sets() -> None:
    from toynets.studies.pruning import seed_offset

    overrides = ["study=pruning", "seed=4", "model.seed=7", "train.seed=3", "dataset.seed=11"]
    conf = validate(compose_config(overrides))
    third = seed_offset(conf, 2)
    assert (third.seed, third.model.seed, third.train.seed, third.dataset.seed) == (6, 9, 5, 13)
    assert conf.model.seed == 7  # the job's own is left alone
    plain = seed_offset(validate(compose_config(["study=pruning", "seed=4"])), 1)
    assert (plain.seed, plain.model.seed, plain.train.seed, plain.dataset.seed) == (
        5,
        None,
        None,
        None,
    )
    assert third.model.hidden == conf.model.hidden and third.study == conf.study


def test_an_extra_net_that_diverges_is_left_out_with_a_note() -> None:
    from toynets.studies.pruning import originals

    overrides = ["study=pruning", "dataset=fcnn_prod", "model.hidden=[5,4]", *OTHER_NETS]
    trained, _ = study_report(overrides)  # squared error: a huge step overflows it
    wild = dataclasses.replace(trained.config.train, optimizer="sgd", lr=1e12)
    config = dataclasses.replace(trained.config, train=wild)
    report = Report()
    nets = originals(dataclasses.replace(trained, config=config), 3, report)
    assert [o.seed for o in nets] == [0]
    assert len(report.notes) == 2 and "seed 1 diverged" in report.notes[0]


def test_a_net_that_diverged_leaves_its_map_empty() -> None:
    """A classification net whose retraining diverges: its panel of the map grid is NaN (drawn
    empty) and titled so; every other panel is a map."""
    from toynets.studies.pruning import run

    overrides = ["study=pruning", "dataset=circle", "model.hidden=[5,4]", *OTHER_NETS]
    trained, _ = study_report(overrides)
    wild = dataclasses.replace(trained.config.train, optimizer="sgd", lr=1e12)
    config = dataclasses.replace(trained.config, train=wild)
    report = run(dataclasses.replace(trained, config=config), config.study)
    _, _, probabilities, titles, _ = report.figures["pruning_maps"].args
    table = pd.DataFrame(report.tables["pruning"])
    lost = table[(table.fraction == 0.5) & table.test_loss.isna()]
    assert len(lost) >= 1
    short = {"pruned_finetuned": "fine-tuned", "pruned_first": "pruned first"}
    short["pruned_first_fresh"] = "fresh init"
    empty = {f"{row.criterion}\n{short[row.condition]}: diverged" for row in lost.itertuples()}
    assert empty <= set(titles) and len(titles) == 15
    for title, probability in zip(titles, probabilities, strict=True):
        assert probability.shape == (12, 12, 2), title
        if title in empty:
            assert np.isnan(probability).all(), title
        else:
            assert np.isfinite(probability).all() and not title.endswith("nan%"), title


def test_fractions_per_layer_and_their_labels() -> None:
    from toynets.studies.pruning import fraction_label, layer_fractions

    assert layer_fractions(0.5, None, 2) == (0.5, 0.5)
    assert layer_fractions(0.5, [1], 3) == (0.0, 0.5, 0.0)
    assert layer_fractions([0.2, 0.4], [1], 2) == (0.2, 0.4)  # a list is every layer's own
    assert fraction_label(0.3, [8, 6], ((0, 1), (2,))) == 0.3
    # one per layer: the share of all hidden units removed, 4 of 14
    assert fraction_label([0.5, 0.0], [8, 6], ((0, 1, 2, 3), ())) == 0.285714


def test_the_study_s_training_schedules() -> None:
    from toynets.studies.pruning import study_schedule

    conf = validate(compose_config(["+experiment=pruning_spiral"]))
    by_epochs = study_schedule(conf.train)  # the pruned-first nets: the job's own schedule
    assert (by_epochs.epochs, by_epochs.steps, by_epochs.batch_size) == (50, None, 100)
    assert by_epochs.snapshot_every == conf.train.snapshot_every == 20
    assert by_epochs.eval_every == 10**9  # evaluated once, at the end
    tune = study_schedule(conf.train, steps=30, frames=4)  # fine-tuning, for its movie
    assert (tune.steps, tune.epochs, tune.eval_every, tune.snapshot_every) == (30, None, 30, 7)
    assert study_schedule(conf.train, steps=3, frames=10).snapshot_every == 1
    by_steps = dataclasses.replace(conf.train, steps=100, epochs=None)
    assert study_schedule(by_steps).eval_every == 100
    assert study_schedule(by_steps).snapshot_every == 20


def test_training_results_keep_their_nets_and_histories() -> None:
    from toynets.studies.pruning import _train, originals
    from toynets.train import History

    overrides = ["study=pruning", "dataset=fcnn_prod", "model.hidden=[5,4]", *OTHER_NETS]
    trained, _ = study_report(overrides)
    nets = originals(trained, 2, Report())
    extra = nets[1]
    assert isinstance(extra.history, History) and extra.seed == 1
    for i, layer in enumerate(extra.trained.layers):
        np.testing.assert_array_equal(layer.W, extra.history.snapshots[f"W{i}"][-1])
    for i, layer in enumerate(extra.initial.layers):
        np.testing.assert_array_equal(layer.W, extra.history.snapshots[f"W{i}"][0])
    wild = dataclasses.replace(trained.config.train, optimizer="sgd", lr=1e12)
    out = _train({"ok": extra.initial}, extra.conf.train, {"ok": extra})
    out |= _train({"bad": extra.initial}, wild, {"bad": extra})
    assert out["bad"].net is None and out["bad"].history is None
    assert isinstance(out["ok"].history, History)
    np.testing.assert_allclose(out["ok"].net.layers[0].W, extra.trained.layers[0].W, atol=1e-4)


SOME_LAYERS = [
    "+experiment=pruning_spiral",
    "dataset.n_train=200",
    "dataset.n_test=200",
    "model.hidden=[5,4]",
    "train.epochs=7",  # 28 steps: fine-tuning takes 28 // 5 = 5
    "train.batch_size=50",
    "train.snapshot_every=7",
    "study.seeds=1",
    "study.fractions=[0,0.5]",
    "study.fraction=[0.25,0.5]",
    "study.layers=[1]",
    "study.compensate=false",
    "study.grid=10",
    "study.movie_frames=3",
    "study.criteria=[random,shapley]",
    "study.shapley_exact_limit=2",
    "study.shapley_permutations=3",
    "study.shapley_points=50",
    "study.order_seed=5",
    "model.seed=9",
    "tracking.log_model=false",
]


def test_some_layers_plain_deletion_and_sampled_shapley() -> None:
    """`study.layers=[1]`: the sweep prunes the second layer only; a per-layer `fraction` not
    in the sweep gets rows of its own, labelled with its share of all units (1 + 2 of 9);
    `compensate=false` deletes units plainly; Shapley values of layers over the exact limit
    are sampled with the study's permutations, points and seed; fine-tuning takes a fifth of
    the training steps, filmed in `movie_frames` frames."""
    from toynets.analysis import pruning as pr

    trained, report = study_report(SOME_LAYERS)
    table = pd.DataFrame(report.tables["pruning"])
    arrays = report.arrays["pruning"]
    assert set(table.fraction) == {0.0, 0.5, 0.333333}
    params = ref.params_of(arrays, "trained_s0_")
    data = trained.data
    for criterion in ("random", "shapley"):
        orders = [arrays[f"order_{criterion}_s0_layer{i}"] for i in (0, 1)]
        for fraction, removed, widths in (
            (0.5, [[], sorted(orders[1][:2])], [2, 5, 2, 2]),
            (0.333333, [sorted(orders[0][:1]), sorted(orders[1][:2])], [2, 4, 2, 2]),
        ):
            rows = table[(table.criterion == criterion) & (table.fraction == fraction)]
            assert set(rows[rows.condition != "trained"].n_params) == {ref.n_params(widths)}
            z = ref.logits(params, data.x_test, [{u: 0.0 for u in r} for r in removed])
            pruned = rows[rows.condition == "pruned"].iloc[0]
            assert pruned.test_loss == pytest.approx(ref.cross_entropy(z, data.y_test), rel=1e-6)
    settings = pr.ShapleySettings(exact_limit=2, permutations=3, points=50, seed=5)
    scores = pr.layer_shapley(trained.net, data.x_train, data.y_train, settings)
    for i, score in enumerate(scores):
        assert (
            arrays[f"order_shapley_s0_layer{i}"].tolist()
            == np.argsort(score, kind="stable").tolist()
        )
    assert report.figures["pruning_finetuning"].args[3].tolist() == [0, 2, 5]
    # the fresh net at the main fraction: 2 -> 4 -> 2 -> 2 from model seed 9 + 1000
    from toynets.model import build

    model = build(dataclasses.replace(trained.config.model, hidden=[4, 2]), 2, "softmax", 2, 1009)
    fresh = trained_alone(
        ("fresh", "model.seed=9"), model, trained.config, data, trained.config.train
    )
    assert_close_nets(ref.params_of(arrays, "pruned_first_fresh_s0_"), fresh, "fresh, model seed 9")


def test_a_study_whose_nets_diverge_says_so() -> None:
    from toynets.studies.pruning import run

    overrides = ["study=pruning", "dataset=fcnn_prod", "model.hidden=[5,4]", *OTHER_NETS]
    trained, _ = study_report(overrides)
    wild = dataclasses.replace(trained.config.train, optimizer="sgd", lr=1e12)
    config = dataclasses.replace(trained.config, train=wild)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all-NaN means are NaN, quietly
        report = run(dataclasses.replace(trained, config=config), config.study)
    assert any("seed 1 diverged" in note for note in report.notes)
    table = pd.DataFrame(report.tables["pruning"])
    assert set(table.seed) == {0}
    retrained = table.condition.isin(["pruned_finetuned", "pruned_first", "pruned_first_fresh"])
    original = (table.condition == "pruned_first") & (table.fraction == 0)  # not trained again
    lost = table[retrained & ~original]
    assert lost.test_loss.isna().all() and (lost.n_params == 0).all()
    kept = table[table.condition.isin(["trained", "pruned"]) | original]
    assert not kept.test_loss.isna().any()
    assert any(note.startswith(f"{len(lost)} rows are NaN") for note in report.notes)
