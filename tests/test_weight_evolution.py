"""The weight-evolution study (DIGEST §5) and the random walk, against the independent NumPy
reference of tests/weight_evolution_reference.py: the means, norms and update sizes from their
definitions, the movie's frames read back from the GIF through matplotlib's own `hot`
colormap, the random walk's moves and costs recomputed from its snapshots."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from PIL import Image

import weight_evolution_reference as ref
from conftest import compose_config, credited_study_report, logged_study
from toynets.analysis import weight_evolution as evolution
from toynets.config import TrainConfig, validate
from toynets.errors import ConfigError

LEVELS_TOLERANCE = 2 / 192 + 2 / 256  # x limit: a palette level, and a colour step of `hot`

SMALL = [
    "+experiment=weight_evolution_halfplane",
    "dataset.n_train=400",
    "dataset.n_test=100",
    "train.steps=2000",
    "study.grid=40",
    "study.slider_frames=6",
    "tracking.log_model=false",
]
DEEP = [
    "study=weight_evolution",
    "dataset=circle",
    "dataset.n_train=300",
    "dataset.n_test=100",
    "model.hidden=[4,3]",
    "train.epochs=4",
    "study.grid=30",
    "study.compare=[]",
    "study.unit=2",
    "study.movie_frames=4",
    "study.slider_frames=2",
    "study.movie_limit=0.5",
    "tracking.log_model=false",
]


@pytest.fixture(scope="session")
def halfplane_report():
    return credited_study_report("halfplane_report", SMALL)


@pytest.fixture(scope="session")
def deep_report():
    return credited_study_report("deep_report", DEEP)


# -- the analysis, from its definitions ----------------------------------------------------------


@pytest.mark.parametrize("chosen", [[0], [0, 1], [3, 1, 7], [14]])
def test_mean_of_rest_is_the_mean_and_the_source_divides_by_all(chosen) -> None:
    paths = np.random.default_rng(len(chosen)).normal(size=(9, 15))
    mean = evolution.mean_of_rest(paths, chosen)
    np.testing.assert_allclose(mean, ref.mean_of_rest(paths, chosen), rtol=1e-12)
    source = evolution.source_average_of_rest(paths, chosen)
    np.testing.assert_allclose(source, ref.source_average_of_rest(paths, chosen), rtol=1e-12)
    np.testing.assert_allclose(source, mean * (15 - len(chosen)) / 15, rtol=1e-12)


def test_mean_of_rest_by_hand() -> None:
    paths = np.array([[1.0, 2.0, 3.0, 4.0], [-4.0, 0.0, 8.0, 1.0]])
    np.testing.assert_allclose(evolution.mean_of_rest(paths, [0]), [3.0, 3.0])
    np.testing.assert_allclose(evolution.source_average_of_rest(paths, [0]), [9 / 4, 9 / 4])
    np.testing.assert_allclose(evolution.mean_of_rest(paths, [1, 3]), [2.0, 2.0])


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ([4], "chosen entries [4] are not among the kernel's 4 entries (0..3)"),
        ([-1], "chosen entries [-1] are not among the kernel's 4 entries (0..3)"),
        ([0, 1, 2, 3], "every entry is chosen: there is no rest to average"),
    ],
)
def test_mean_of_rest_refuses_entries_it_cannot_average(chosen, message) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        evolution.mean_of_rest(np.zeros((2, 4)), chosen)


def test_trajectories_are_row_major_entries() -> None:
    W = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    paths = evolution.trajectories(W)
    assert paths.shape == (2, 12)
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(paths[:, i * 4 + j], W[:, i, j])


def test_norms_and_update_sizes_match_their_definitions() -> None:
    rng = np.random.default_rng(3)
    W = rng.normal(size=(7, 5, 3))
    steps = np.array([0, 40, 80, 100, 200, 240, 400])
    np.testing.assert_allclose(evolution.norms(W), ref.frobenius_norms(W), rtol=1e-12)
    np.testing.assert_allclose(
        evolution.update_sizes(W, steps), ref.update_per_step(W, steps), rtol=1e-12
    )
    relative = evolution.relative_update_sizes(W, steps)
    np.testing.assert_allclose(
        relative, ref.update_per_step(W, steps) / ref.frobenius_norms(W)[:-1], rtol=1e-12
    )
    # by hand: [[3, 4]] -> [[3, 4]] -> [[0, 0]] at 0, 40, 80
    hand = np.array([[[3.0, 4.0]], [[3.0, 4.0]], [[0.0, 0.0]]])
    np.testing.assert_allclose(evolution.norms(hand), [5, 5, 0])
    np.testing.assert_allclose(evolution.update_sizes(hand, np.array([0, 40, 80])), [0, 5 / 40])
    zero_start = np.array([[[0.0]], [[2.0]], [[2.0]], [[0.0]], [[0.0]], [[0.5]], [[0.25]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warning escapes
        relative = evolution.relative_update_sizes(zero_start, np.arange(7))
    np.testing.assert_array_equal(relative, [np.inf, 0.0, 1.0, np.inf, np.inf, 0.5])


def test_symmetric_limit_is_the_largest_magnitude() -> None:
    W = np.array([[[0.3, -1.7]], [[1.2, 0.0]]])
    assert evolution.symmetric_limit(W) == 1.7
    assert evolution.symmetric_limit(np.zeros((3, 2, 2))) == 1.0
    assert evolution.symmetric_limit(np.zeros((0, 2, 2))) == 1.0
    assert evolution.symmetric_limit(np.full((1, 1, 1), -0.25)) == 0.25


@pytest.mark.parametrize(("n", "limit"), [(751, 1000), (751, None), (751, 50), (10, 3), (5, 2)])
def test_frame_indices_are_evenly_spaced_with_both_ends(n, limit) -> None:
    shown = evolution.frame_indices(n, limit)
    expected = n if limit is None or limit >= n else limit
    assert len(shown) == expected
    assert shown[0] == 0 and shown[-1] == n - 1
    gaps = np.diff(shown)
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1
    assert np.issubdtype(shown.dtype, np.integer)


def test_frame_indices_by_hand() -> None:
    assert evolution.frame_indices(10, 3).tolist() == [0, 4, 9]  # 0, 4.5, 9 rounded to even
    assert evolution.frame_indices(5, 4).tolist() == [0, 1, 3, 4]
    assert evolution.frame_indices(4, 4).tolist() == [0, 1, 2, 3]


# -- the movie -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "limit"), [((15, 1), None), ((3, 4), None), ((2, 5), 0.5)])
def test_movie_frames_equal_the_snapshots(tmp_path, shape, limit) -> None:
    from toynets.plots.weight_evolution import movie_matrix_box, weight_movie
    from toynets.render import save, slider_folder
    from toynets.report import Movie

    rng = np.random.default_rng(sum(shape))
    frames = 9
    W = np.cumsum(rng.normal(scale=0.3, size=(frames, *shape)), axis=0)
    steps = np.arange(frames) * 40
    limit = limit or evolution.symmetric_limit(W)
    names = [f"x{i + 1}" for i in range(shape[0])]
    movie = Movie(
        weight_movie,
        (W, steps, limit),
        {"layer": "W0", "names": names, "title": "test"},
        frame_ms=60,
        steps=tuple(int(s) for s in steps),
        slider=(0, 4, 8),
    )
    target = tmp_path / "figures" / "weights_W0.gif"
    save(movie, target)

    box = movie_matrix_box(shape, names, "test")
    with Image.open(target) as gif:
        assert gif.n_frames == frames
        decoded = []
        for k in range(frames):
            gif.seek(k)
            assert gif.info["duration"] == 60
            rgb = np.asarray(gif.convert("RGB"))
            decoded.append(ref.decode_hot_frame(rgb, box, (shape[1], shape[0]), limit))
            if k in (0, 4, 8):  # the slider frame of this step is the same picture
                with Image.open(slider_folder(target) / f"{steps[k]}.png") as png:
                    np.testing.assert_array_equal(np.asarray(png.convert("RGB")), rgb)
    expected = np.clip(W, -limit, limit).transpose(0, 2, 1)
    np.testing.assert_allclose(np.array(decoded), expected, atol=LEVELS_TOLERANCE * limit)
    assert sorted(int(p.stem) for p in slider_folder(target).glob("*.png")) == [0, 160, 320]


def test_value_levels_split_the_range_evenly() -> None:
    from toynets.plots.weight_evolution import LEVELS, movie_palette, value_levels

    limit = 2.0
    edges = -limit + 2 * limit * np.arange(LEVELS) / LEVELS
    np.testing.assert_array_equal(value_levels(edges + 1e-9, limit), np.arange(LEVELS))
    assert value_levels(np.array([-5.0, 5.0, limit]), limit).tolist() == [0, LEVELS - 1, LEVELS - 1]
    palette = movie_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[LEVELS].tolist() == [0, 0, 0] and palette[-1].tolist() == [255, 255, 255]


# -- the random walk ----------------------------------------------------------------------------


def _walk(n_train: int = 200, steps: int = 300, lr: float = 0.01, batch: int | None = None):
    from toynets.config import DatasetConfig
    from toynets.data import make
    from toynets.net import Layer, Net
    from toynets.train import Member, fit_population

    data = make(DatasetConfig(name="halfplane", n_train=n_train, n_test=50, n_features=15), 0)
    W = np.random.default_rng(0).uniform(-0.6, 0.6, (15, 1)).astype(np.float32)
    net = Net((Layer(W, np.zeros(1, np.float32), "linear", 1),))
    cfg = TrainConfig(
        optimizer="random_walk",
        lr=lr,
        steps=steps,
        batch_size=batch,
        snapshot_every=1,
        progress=False,
    )
    return data, fit_population([Member(net, data, cfg, 5, "logit")])[0]


def test_random_walk_never_increases_the_cost() -> None:
    data, history = _walk()
    loss = history.step_loss
    assert np.all(np.diff(loss) <= 0)
    assert loss[-1] < 0.5 * loss[0]  # and it does walk downhill
    snaps = history.snapshots
    costs = [
        ref.sigmoid_cross_entropy(snaps["W0"][t], snaps["b0"][t], data.x_train, data.y_train)
        for t in range(len(history.snapshot_step))
    ]
    # the recorded loss of step t is the cost of the weights before it
    np.testing.assert_allclose(loss, costs[:-1], rtol=2e-5)
    np.testing.assert_array_less(np.diff(costs), 1e-6)


def test_random_walk_moves_each_weight_by_minus_eta_zero_or_eta() -> None:
    data, history = _walk(lr=0.01)
    snaps = history.snapshots
    kept = 0
    for t in range(len(history.snapshot_step) - 1):
        step_moves = np.concatenate(
            [ref.moves(snaps[k][t], snaps[k][t + 1], 0.01).ravel() for k in ("W0", "b0")]
        )
        assert set(step_moves.tolist()) <= {-1, 0, 1}
        if np.any(step_moves):
            kept += 1
            before = ref.sigmoid_cross_entropy(
                snaps["W0"][t], snaps["b0"][t], data.x_train, data.y_train
            )
            after = ref.sigmoid_cross_entropy(
                snaps["W0"][t + 1], snaps["b0"][t + 1], data.x_train, data.y_train
            )
            assert after < before + 1e-6
    assert 0 < kept < len(history.snapshot_step) - 1  # some moves kept, some refused


def test_coins_are_fair_and_seeded() -> None:
    import tensorflow as tf

    from toynets.population import coin_moves

    weights = [tf.zeros([2, 300, 500])]
    seeds = tf.constant([3, 4], tf.int64)
    moves = coin_moves(weights, seeds, tf.constant(7, tf.int64))[0].numpy()
    assert set(np.unique(moves).tolist()) == {-1.0, 0.0, 1.0}
    for member in range(2):
        shares = [np.mean(moves[member] == v) for v in (-1, 0, 1)]
        np.testing.assert_allclose(shares, 1 / 3, atol=0.005)
    assert np.mean(moves[0] == moves[1]) < 0.4  # each member its own coins (1/3 by chance)
    again = coin_moves(weights, seeds, tf.constant(7, tf.int64))[0].numpy()
    np.testing.assert_array_equal(moves, again)
    later = coin_moves(weights, seeds, tf.constant(8, tf.int64))[0].numpy()
    assert np.mean(moves == later) < 0.4
    alone = coin_moves([tf.zeros([1, 300, 500])], seeds[1:], tf.constant(7, tf.int64))[0]
    np.testing.assert_array_equal(alone.numpy()[0], moves[1])


def test_random_walk_on_mini_batches_moves_on_the_lattice() -> None:
    _, history = _walk(steps=60, batch=50)
    W = history.snapshots["W0"]
    total = ref.moves(W[0], W[-1], 0.01)
    assert np.abs(total).max() <= 60 and np.any(total)


def test_a_member_walks_alone_as_in_a_population() -> None:
    from toynets.config import DatasetConfig
    from toynets.data import make
    from toynets.net import Layer, Net
    from toynets.train import Member, fit_population

    data = make(DatasetConfig(name="halfplane", n_train=100, n_test=20, n_features=15), 1)
    cfg = TrainConfig(optimizer="random_walk", lr=0.02, steps=50, batch_size=None, progress=False)
    rng = np.random.default_rng(1)
    nets = [
        Net(
            (
                Layer(
                    rng.normal(size=(15, 1)).astype(np.float32),
                    np.zeros(1, np.float32),
                    "linear",
                    1,
                ),
            )
        )
        for _ in range(2)
    ]
    together = fit_population(
        [Member(n, data, cfg, s, "logit") for n, s in zip(nets, (4, 9), strict=True)]
    )
    for net, seed, joint in zip(nets, (4, 9), together, strict=True):
        alone = fit_population([Member(net, data, cfg, seed, "logit")])[0]
        np.testing.assert_allclose(alone.snapshots["W0"], joint.snapshots["W0"], atol=1e-6)
        np.testing.assert_allclose(alone.step_loss, joint.step_loss, rtol=1e-6)


# -- the study's numbers, from its report -------------------------------------------------------


def test_chosen_weights_and_the_rest(halfplane_report) -> None:
    trained, report = halfplane_report
    W0 = trained.history.snapshots["W0"]
    steps = trained.history.snapshot_step
    table = report.tables["chosen_weights"]
    np.testing.assert_array_equal(table["step"], steps)
    np.testing.assert_array_equal(table["w_x1"], W0[:, 0, 0])
    np.testing.assert_array_equal(table["w_x2"], W0[:, 1, 0])
    rest = ref.mean_of_rest(W0[:, :, 0], [0, 1])
    source = ref.source_average_of_rest(W0[:, :, 0], [0, 1])
    np.testing.assert_allclose(table["rest_mean"], rest, rtol=1e-6)
    np.testing.assert_allclose(table["source_rest_average"], source, rtol=1e-6)
    metrics = report.metrics
    assert metrics["evolution/w_x1"] == pytest.approx(W0[-1, 0, 0])
    assert metrics["evolution/w_x2"] == pytest.approx(W0[-1, 1, 0])
    assert metrics["evolution/rest_mean"] == pytest.approx(rest[-1], rel=1e-6)
    assert metrics["evolution/source_rest_average"] == pytest.approx(source[-1], rel=1e-6)
    assert report.notes == [
        "The mean of the rest is the mean of the unit's other 13 weights. The source (DIGEST "
        '§5) set the chosen weights to 0 and averaged all 15: its "average of rest" is their '
        "sum / 15, 13/15 of the mean; chosen_weights.png draws it dotted."
    ]
    drawing = report.figures["chosen_weights"]
    assert drawing.args[2] == ["w(x1 -> unit 0)", "w(x2 -> unit 0)"]
    np.testing.assert_array_equal(drawing.args[1], W0[:, :2, 0])
    assert drawing.args[5:] == (13, 15) and drawing.kwargs == {"title": "test"}


def test_movie_of_every_snapshot_with_slider_frames(halfplane_report) -> None:
    from toynets.report import Movie

    trained, report = halfplane_report
    movie = report.figures["weights_W0"]
    steps = trained.history.snapshot_step
    assert isinstance(movie, Movie) and movie.frame_ms == 40
    assert len(steps) == 2000 // 40 + 1
    assert movie.steps == tuple(int(s) for s in steps)
    assert movie.slider == (0, 10, 20, 30, 40, 50)
    W, shown_steps, limit = movie.args
    np.testing.assert_array_equal(W, trained.history.snapshots["W0"])
    np.testing.assert_array_equal(shown_steps, steps)
    assert limit == report.metrics["evolution/movie_limit_W0"]
    assert limit == pytest.approx(np.abs(W).max())
    assert movie.kwargs["names"] == [f"x{i + 1}" for i in range(15)]
    frames = list(movie.frames())
    assert len(frames) == len(steps) and frames[0].mode == "P"


def test_layer_norms_and_updates(halfplane_report) -> None:
    trained, report = halfplane_report
    W0 = trained.history.snapshots["W0"]
    steps = trained.history.snapshot_step
    norms = ref.frobenius_norms(W0)
    updates = ref.update_per_step(W0, steps)
    table = report.tables["layers"]
    assert table["layer"] == ["W0"] and table["fan_in"] == [15] and table["fan_out"] == [1]
    assert table["norm_start"][0] == pytest.approx(norms[0], rel=1e-6)
    assert table["norm_end"][0] == pytest.approx(norms[-1], rel=1e-6)
    assert table["mean_update_per_step"][0] == pytest.approx(updates.mean(), rel=1e-6)
    curve_steps, values = report.curves["evolution/norm_W0"]
    np.testing.assert_array_equal(curve_steps, steps)
    np.testing.assert_allclose(values, norms, rtol=1e-6)
    curve_steps, values = report.curves["evolution/update_W0"]
    np.testing.assert_array_equal(curve_steps, steps[1:])
    np.testing.assert_allclose(values, updates, rtol=1e-6)
    assert report.figures["layer_dynamics"].kwargs == {"title": "test"}
    arrays = report.arrays["weight_evolution"]
    np.testing.assert_array_equal(arrays["step"], steps)
    np.testing.assert_allclose(arrays["norm_W0"], norms, rtol=1e-6)
    np.testing.assert_allclose(arrays["update_W0"], updates, rtol=1e-6)


def test_the_random_walk_starts_where_the_job_started(halfplane_report, capsys) -> None:
    from toynets.studies.weight_evolution import compared_histories

    trained, _ = halfplane_report
    data, snaps = trained.data, trained.history.snapshots
    histories = compared_histories(trained, trained.config.study)
    assert "train again with random_walk (lr 0.001)" in capsys.readouterr().err
    walk = histories["random_walk"]
    start = ref.sigmoid_cross_entropy(snaps["W0"][0], snaps["b0"][0], data.x_train, data.y_train)
    assert walk.metrics["train/loss"][0] == pytest.approx(start, rel=1e-5)
    assert trained.history.metrics["train/loss"][0] == pytest.approx(start, rel=1e-5)
    # on its lattice, up to float32 round-off summed over 2000 steps
    lattice = np.diff(walk.snapshots["W0"][[0, -1]], axis=0) / 0.001
    np.testing.assert_allclose(lattice, np.round(lattice), atol=0.05)
    assert np.all(np.diff(walk.step_loss) <= 0)
    end = ref.sigmoid_cross_entropy(
        walk.snapshots["W0"][-1], walk.snapshots["b0"][-1], data.x_train, data.y_train
    )
    assert walk.metrics["train/loss"][-1] == pytest.approx(end, rel=1e-5)
    test = ref.accuracy(
        walk.snapshots["W0"][-1], walk.snapshots["b0"][-1], data.x_test, data.y_test
    )
    assert walk.metrics["test/accuracy"][-1] == pytest.approx(test)


def test_optimizers_table_and_metrics(halfplane_report) -> None:
    trained, report = halfplane_report
    table = report.tables["optimizers"]
    assert table["optimizer"] == ["adam", "random_walk"]
    assert table["lr"] == [pytest.approx(1e-4), pytest.approx(1e-3)]
    assert table["steps"] == [2000, 2000]
    job = trained.history
    assert table["train_loss"][0] == pytest.approx(float(job.metrics["train/loss"][-1]))
    assert table["test_accuracy"][0] == pytest.approx(float(job.metrics["test/accuracy"][-1]))
    assert table["seconds"][0] == pytest.approx(float(job.eval_seconds[-1]))
    for k in range(2):
        assert table["seconds"][k] > 0
        assert table["steps_per_second"][k] == pytest.approx(2000 / table["seconds"][k])
    metrics = report.metrics
    assert metrics["compare/random_walk/train_loss"] == table["train_loss"][1]
    assert metrics["compare/random_walk/test_loss"] == table["test_loss"][1]
    assert metrics["compare/random_walk/seconds"] == table["seconds"][1]
    assert not any(name.startswith("compare/adam") for name in metrics)
    labels, steps, losses, seconds = report.figures["optimizers"].args
    assert labels == ["adam (the job), lr 0.0001", "random_walk, lr 0.001"]
    np.testing.assert_array_equal(steps[0], job.eval_step)
    np.testing.assert_array_equal(losses[0], job.metrics["train/loss"])
    assert np.all(np.diff(seconds[1]) >= 0) and seconds[1][0] == 0
    assert report.figures["optimizers"].kwargs == {"title": "test"}
    assert set(table) == {
        "optimizer", "lr", "steps", "seconds", "steps_per_second", "train_loss", "test_loss",
        "train_accuracy", "test_accuracy",
    }  # fmt: skip


def test_a_compared_optimizer_that_diverges_is_kept_with_a_note(halfplane_report) -> None:
    import dataclasses

    from toynets.errors import TrainingDiverged
    from toynets.studies.weight_evolution import compared_histories, run

    trained, _ = halfplane_report
    cfg = dataclasses.replace(trained.config.study, compare=[["sgd", 1e38]])
    result = compared_histories(trained, cfg)["sgd"]
    assert isinstance(result, TrainingDiverged) and result.step == 1
    assert result.history.eval_step.tolist() == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # 0 steps in 0 s is nan, quietly
        report = run(trained, cfg)
    table = report.tables["optimizers"]
    assert table["optimizer"] == ["adam", "sgd"] and table["steps"] == [2000, 0]
    assert table["seconds"][1] == 0 and math.isnan(table["steps_per_second"][1])
    assert report.metrics["compare/sgd/seconds"] == 0
    assert report.notes[-1] == (
        f"Trained again with sgd (lr 1e+38), {result}: its curves in optimizers.png and its "
        "row of optimizers.csv stop there."
    )


def test_every_figure_draws(halfplane_report) -> None:
    from toynets.report import Drawing, figure_of

    _, report = halfplane_report
    expected = {
        "loss_curves",
        "decision_map",
        "weights_W0",
        "chosen_weights",
        "trajectories",
        "layer_dynamics",
        "optimizers",
    }
    assert set(report.figures) == expected
    for name, item in report.figures.items():
        if isinstance(item, Drawing):
            fig = figure_of(item)
            assert fig.get_figwidth() >= 5, name
    chosen = figure_of(report.figures["chosen_weights"])
    labels = [line.get_label() for line in chosen.axes[0].lines]
    assert "mean of the other 13" in labels
    assert "source: their sum / 15 (13/15 of the mean)" in labels


def test_deeper_net_has_a_movie_and_curves_per_layer(deep_report) -> None:
    trained, report = deep_report
    snaps = trained.history.snapshots
    for i, shape in enumerate([(2, 4), (4, 3), (3, 2)]):
        movie = report.figures[f"weights_W{i}"]
        assert movie.args[0].shape[1:] == shape
        assert movie.kwargs["names"] == (["x1", "x2"] if i == 0 else None)
        np.testing.assert_allclose(
            report.curves[f"evolution/norm_W{i}"][1], ref.frobenius_norms(snaps[f"W{i}"]), rtol=1e-6
        )
    assert report.tables["layers"]["layer"] == ["W0", "W1", "W2"]
    # two inputs: x1 alone is followed into unit 2, the rest is x2's weight into it
    table = report.tables["chosen_weights"]
    assert set(table) == {"step", "w_x1", "rest_mean", "source_rest_average"}
    np.testing.assert_array_equal(table["w_x1"], snaps["W0"][:, 0, 2])
    np.testing.assert_array_equal(table["rest_mean"], snaps["W0"][:, 1, 2])
    np.testing.assert_allclose(table["source_rest_average"], snaps["W0"][:, 1, 2] / 2)
    assert "optimizers" not in report.figures and "optimizers" not in report.tables
    trajectories = report.figures["trajectories"]
    assert [p.shape[1] for p in trajectories.args[1]] == [8, 12, 6]
    assert trajectories.args[3] == [2]  # x1 -> unit 2 is entry 0 * 4 + 2 of W0
    assert trajectories.args[4] == ["w(x1 -> unit 2)"]
    assert trajectories.kwargs == {"title": "test"}
    # at most 4 frames, evenly spaced over the snapshots; 2 of them for the slider
    steps = trained.history.snapshot_step
    assert len(steps) == 5
    shown = [0, 1, 3, 4]
    for i in range(3):
        movie = report.figures[f"weights_W{i}"]
        assert movie.steps == tuple(int(steps[k]) for k in shown)
        np.testing.assert_array_equal(movie.args[0], snaps[f"W{i}"][shown])
        np.testing.assert_array_equal(movie.args[1], steps[shown])
        assert movie.slider == (0, 3)
        assert movie.args[2] == 0.5 == report.metrics[f"evolution/movie_limit_W{i}"]


# -- config, the store, the experiments ---------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["study.chosen=[0,15]"], ["study.chosen", "0..14"]),
        (["study.chosen=[0,0]"], ["study.chosen", "distinct"]),
        (["study.chosen=[]"], ["study.chosen=[]", "empty"]),
        (["study.unit=1"], ["study.unit=1", "1 units", "model.head=logit"]),
        (["study.frame_ms=10"], ["study.frame_ms=10", ">= 20"]),
        (["study.movie_frames=1"], ["study.movie_frames=1", ">= 2"]),
        (["study.movie_limit=0"], ["study.movie_limit", "> 0"]),
        (["study.slider_frames=-1"], ["study.slider_frames=-1", ">= 0"]),
        (["study.compare=[[sgdd,0.1]]"], ["study.compare[0]", "'sgdd'", "random_walk"]),
        (["study.compare=[[sgd,-1]]"], ["study.compare[0] (the lr)", "> 0"]),
        (["study.compare=[sgd]"], ["study.compare[0]=sgd", "[optimizer, lr]"]),
        (["study.compare=[[sgd,0.1],[sgd,1]]"], ["names an optimizer twice"]),
    ],
)
def test_bad_study_values_are_refused(overrides, words) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config(["+experiment=weight_evolution_halfplane", *overrides]))
    for word in words:
        assert word in str(error.value)


def test_chosen_must_leave_a_rest_and_the_unit_must_exist() -> None:
    with pytest.raises(ConfigError, match=r"takes all 2 inputs"):
        validate(compose_config(["study=weight_evolution", "study.chosen=[0,1]"]))
    with pytest.raises(ConfigError, match=r"study.unit=20: the first layer has 20 units"):
        validate(compose_config(["study=weight_evolution", "study.unit=20"]))
    conf = validate(compose_config(["study=weight_evolution", "model.hidden=[]", "study.unit=1"]))
    assert conf.study.unit == 1  # a softmax over the circle's 2 classes has 2 units


@pytest.mark.parametrize(
    ("experiment", "n_train", "steps", "snapshots"),
    [("weight_evolution_halfplane", 800, 30000, 751), ("weight_evolution_sine", 320, 10000, 251)],
)
def test_experiments_are_section_5s_setting(experiment, n_train, steps, snapshots) -> None:
    from toynets.train import Schedule

    conf = validate(compose_config([f"+experiment={experiment}"]))
    assert conf.study.name == "weight_evolution"
    assert (conf.dataset.n_train, conf.dataset.n_features) == (n_train, 15)
    assert conf.model.hidden == [] and conf.model.head == "logit"
    assert conf.model.initializer == "glorot_uniform"
    assert (conf.train.optimizer, conf.train.lr, conf.train.batch_size) == ("adam", 1e-4, None)
    schedule = Schedule.of(conf.train, n_train)
    assert schedule.full_batch and schedule.steps == steps
    assert len(range(0, steps + 1, schedule.snapshot_every)) == snapshots


def test_logged_run_has_the_gif_and_the_slider_images(tmp_path) -> None:
    from mlflow import MlflowClient

    run = logged_study(tmp_path, [*SMALL, "study.compare=[]", "train.steps=400"])
    assert run.status == "FINISHED" and run.experiment == "weight_evolution"
    with Image.open(run.figures["weights_W0"]) as gif:
        assert gif.n_frames == 400 // 40 + 1
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    names = [a.path for a in client.list_artifacts(run.run_id, "images")]
    names = [n for n in names if n.startswith("images/weights_W0+")]  # (and the decision map)
    pngs = sorted(n for n in names if n.endswith(".png"))
    assert len(pngs) == 6 and len(names) == 12  # each with MLflow's compressed copy
    steps = sorted(int(re.search(r"\+step\+(\d+)\+", n).group(1)) for n in pngs)
    assert steps == [0, 80, 160, 240, 320, 400]
    assert all(n.split("/")[-1].startswith("weights_W0+step+") for n in pngs)
    assert client.get_run(run.run_id).data.tags["mlflow.loggedImages"].lower() == "true"
    rows = np.genfromtxt(run.tables["chosen_weights"], delimiter=",", names=True)
    W0 = run.snapshots["W0"]
    np.testing.assert_allclose(rows["rest_mean"], ref.mean_of_rest(W0[:, :, 0], [0, 1]), rtol=1e-5)
    np.testing.assert_array_equal(rows["step"], run.snapshots["step"])
    assert "trajectories" in run.figures and math.isfinite(run.metrics["evolution/rest_mean"])


@pytest.mark.slow
def test_the_report_section_is_written_from_a_sweep(tmp_path) -> None:
    """A sweep of §5's two experiments (short) lands in the study's experiment;
    docs/render_weight_evolution.py fills §5 of a copy of docs/reproduction.md from its runs."""

    from conftest import rendered_section, run_cli
    from toynets import runs

    done = run_cli(
        "-m", "+experiment=weight_evolution_halfplane,weight_evolution_sine", "seed=0,1",
        "study=weight_evolution", "train.steps=400", "study.grid=20", "study.slider_frames=2",
        "tracking.log_model=false", cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    sweeps = runs.find("weight_evolution", uri=uri, role="sweep")
    assert len(sweeps) == 1
    text = rendered_section("render_weight_evolution.py", "weight_evolution", uri, tmp_path)
    assert sweeps.run_id[0] in text
    jobs = runs.find("weight_evolution", uri=uri, status="FINISHED")
    sine = jobs[jobs["params.dataset.name"] == "sine"].sort_values("seed")
    loss = sine["metrics.final/train_loss"].to_numpy(float)
    line = next(x for x in text.splitlines() if x.startswith("| sine, 10000 steps"))
    cell = line.strip("|").split("|")[3].strip()
    mean, _, rest = cell.partition(" ± ")
    assert float(mean) == pytest.approx(loss.mean(), rel=6e-3)
    low, _, high = rest.partition(" (")[2].rstrip(")").partition(" – ")
    assert (float(low), float(high)) == pytest.approx((loss.min(), loss.max()), rel=6e-3)
    assert "GIF of 11 frames" in text and "11 weight snapshots" in text
    assert "13/15 = 0.867" in text and "which is 0.867 of it" in text
    for seed in (0, 1):
        assert sum(x.startswith(f"| {seed} | ") for x in text.splitlines()) == 2
