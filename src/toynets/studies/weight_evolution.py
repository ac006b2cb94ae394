"""The `weight_evolution` study: DIGEST §5, the weights of a net over its training.

From the weight snapshots every job records (`train.snapshot_every`; §5's experiments take
one every 40 of 30000 steps, 751 with step 0):

- `figures/weights_W<i>.gif`: a movie of each kernel, drawn as W^T in the source's `hot`
  colormap over a range symmetric about 0 and fixed for the whole movie (`study.movie_limit`,
  default max |w| over it), the step above the matrix; at most `study.movie_frames` frames.
  `study.slider_frames` of them are also logged as MLflow images with their steps, under the
  key `weights_W<i>`: the run's image chart scrubs through training with its step slider.
- `figures/trajectories.png`: every weight and bias of every layer over training.
- `figures/chosen_weights.png`: the weights from the inputs `study.chosen` into the
  first-layer unit `study.unit` against the true mean of that unit's other weights; the
  source's "average of rest" (their sum divided by all the unit's weights: by 15 instead of
  13 in §5) is drawn dotted beside it. `tables/chosen_weights.csv` holds both.
- `figures/layer_dynamics.png`: each layer's ||W||_F and how far it moves per step, also
  the metric curves `evolution/norm_W<i>` and `evolution/update_W<i>`.
- With `study.compare` ([[optimizer, lr], ...]), the net is trained again from its initial weights
  on the same data, for the job's steps, by each of those optimizers (e.g. the random walk of
  §5's companion notebook, `train.optimizer=random_walk`), one after another so that each is
  timed alone: `figures/optimizers.png` (the training cost against the step and against the
  wall-clock seconds of training), `tables/optimizers.csv`.
- From the train study: the cost curve, the accuracies, the decision map.

Metrics are named `evolution/...` (`compare/<optimizer>/...` for the compared nets).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from toynets import console
from toynets.analysis import weight_evolution as evolution
from toynets.config import WeightEvolutionConfig, chosen_inputs, compared_optimizers
from toynets.errors import TrainingDiverged
from toynets.pipeline import train_seed
from toynets.plots import weight_evolution as figures
from toynets.report import Drawing, Movie, Report
from toynets.studies import Trained, snapshot_net
from toynets.studies import train as train_study
from toynets.train import History, Member, fit_population

PREFIX = "evolution"


def input_names(n: int) -> list[str]:
    """x1, x2, ..., xn: the inputs as the datasets name them."""
    return [f"x{i + 1}" for i in range(n)]


def run(trained: Trained, cfg: WeightEvolutionConfig) -> Report:
    report = train_study.run(trained, cfg)
    history = trained.history
    steps = history.snapshot_step
    kernels = [history.snapshots[f"W{i}"] for i in range(len(trained.net.layers))]
    biases = [history.snapshots[f"b{i}"] for i in range(len(trained.net.layers))]
    names = input_names(kernels[0].shape[1])
    chosen = chosen_inputs(cfg, kernels[0].shape[1])

    _movies(report, trained, cfg, steps, kernels, names)
    _chosen(report, trained, cfg.unit, chosen, steps, kernels[0], names)
    report.figures["trajectories"] = Drawing(
        figures.weight_trajectories,
        (
            steps,
            [evolution.trajectories(W) for W in kernels],
            biases,
            [c * kernels[0].shape[2] + cfg.unit for c in chosen],
            [_chosen_label(names[c], cfg.unit) for c in chosen],
        ),
        {"title": trained.title},
    )
    _layers(report, trained, steps, kernels)
    if cfg.compare:
        _compare(report, trained, cfg)
    return report


def _chosen_label(name: str, unit: int) -> str:
    return f"w({name} -> unit {unit})"


def _movies(report, trained, cfg, steps, kernels, names) -> None:
    """A movie per kernel, with its slider frames and colour range."""
    shown = evolution.frame_indices(len(steps), cfg.movie_frames)
    slider = evolution.frame_indices(len(shown), cfg.slider_frames)
    for i, W in enumerate(kernels):
        limit = float(cfg.movie_limit) if cfg.movie_limit else evolution.symmetric_limit(W)
        report.metrics[f"{PREFIX}/movie_limit_W{i}"] = limit
        report.figures[f"weights_W{i}"] = Movie(
            figures.weight_movie,
            (W[shown], steps[shown], limit),
            {"layer": f"W{i}", "names": names if i == 0 else None, "title": trained.title},
            frame_ms=cfg.frame_ms,
            steps=tuple(int(s) for s in steps[shown]),
            slider=tuple(int(k) for k in slider),
        )


def _chosen(report, trained, unit, chosen, steps, W0, names) -> None:
    """The chosen weights of the unit against the true mean of its other weights, and the
    source's "average of rest" beside it."""
    paths = W0[:, :, unit]  # [T, inputs]: every weight into the unit
    rest_mean = evolution.mean_of_rest(paths, chosen)
    source = evolution.source_average_of_rest(paths, chosen)
    n_total = paths.shape[1]
    n_rest = n_total - len(chosen)
    labels = [_chosen_label(names[c], unit) for c in chosen]
    report.figures["chosen_weights"] = Drawing(
        figures.chosen_against_rest,
        (steps, paths[:, chosen], labels, rest_mean, source, n_rest, n_total),
        {"title": trained.title},
    )
    report.tables["chosen_weights"] = {
        "step": steps,
        **{f"w_{names[c]}": paths[:, c] for c in chosen},
        "rest_mean": rest_mean,
        "source_rest_average": source,
    }
    for c in chosen:
        report.metrics[f"{PREFIX}/w_{names[c]}"] = float(paths[-1, c])
    report.metrics[f"{PREFIX}/rest_mean"] = float(rest_mean[-1])
    report.metrics[f"{PREFIX}/source_rest_average"] = float(source[-1])
    report.notes.append(
        f"The mean of the rest is the mean of the unit's other {n_rest} weights. The source "
        f"(DIGEST §5) set the chosen weights to 0 and averaged all {n_total}: its "
        f'"average of rest" is their sum / {n_total}, {n_rest}/{n_total} of the mean; '
        "chosen_weights.png draws it dotted."
    )


def _layers(report, trained, steps, kernels) -> None:
    """Each kernel's norm and update size per step, as curves, a figure and a table."""
    norms = {f"W{i}": evolution.norms(W) for i, W in enumerate(kernels)}
    updates = {f"W{i}": evolution.update_sizes(W, steps) for i, W in enumerate(kernels)}
    report.figures["layer_dynamics"] = Drawing(
        figures.layer_dynamics, (steps, norms, updates), {"title": trained.title}
    )
    for name in norms:
        report.curves[f"{PREFIX}/norm_{name}"] = (steps, norms[name])
        report.curves[f"{PREFIX}/update_{name}"] = (steps[1:], updates[name])
    report.tables["layers"] = {
        "layer": list(norms),
        "fan_in": [W.shape[1] for W in kernels],
        "fan_out": [W.shape[2] for W in kernels],
        "norm_start": [float(n[0]) for n in norms.values()],
        "norm_end": [float(n[-1]) for n in norms.values()],
        "mean_update_per_step": [float(np.mean(u)) for u in updates.values()],  # T >= 2
    }
    report.arrays["weight_evolution"] = {
        "step": steps,
        **{f"norm_{name}": values for name, values in norms.items()},
        **{f"update_{name}": values for name, values in updates.items()},
    }


def compared_histories(
    trained: Trained, cfg: WeightEvolutionConfig
) -> dict[str, History | TrainingDiverged]:
    """The job's net trained again from its initial weights (snapshot 0) on its data, for its
    schedule, by each optimizer of `cfg.compare` at its learning rate, each alone (so that its
    training seconds are its own); name -> History, or TrainingDiverged (with the history up
    to the step before its loss stopped being finite)."""
    config = trained.config
    seed = train_seed(config)
    initial = snapshot_net(trained.net, trained.history, 0)
    histories = {}
    for optimizer, lr in compared_optimizers(cfg):
        train = dataclasses.replace(config.train, optimizer=optimizer, lr=lr)
        with console.stage(f"train again with {optimizer} (lr {lr:g})"):
            result = fit_population([Member(initial, trained.data, train, seed, trained.head)])[0]
        histories[optimizer] = result
    return histories


def _compare(report, trained, cfg) -> None:
    own = trained.config.train
    rates = dict(compared_optimizers(cfg))
    runs = {f"{own.optimizer} (the job)": (own.optimizer, own.lr, trained.history)}
    for optimizer, result in compared_histories(trained, cfg).items():
        if isinstance(result, TrainingDiverged):
            report.notes.append(
                f"Trained again with {optimizer} (lr {rates[optimizer]:g}), {result}: its "
                "curves in optimizers.png and its row of optimizers.csv stop there."
            )
            result = result.history
        runs[optimizer] = (optimizer, rates[optimizer], result)
    labels = [f"{label}, lr {lr:g}" for label, (_, lr, _) in runs.items()]
    histories = [history for _, _, history in runs.values()]
    report.figures["optimizers"] = Drawing(
        figures.optimizer_comparison,
        (
            labels,
            [h.eval_step for h in histories],
            [h.metrics["train/loss"] for h in histories],
            [h.eval_seconds for h in histories],
        ),
        {"title": trained.title},
    )
    rows = []
    for label, (optimizer, lr, history) in runs.items():
        seconds = float(history.eval_seconds[-1])
        steps = int(history.eval_step[-1])
        with np.errstate(invalid="ignore"):  # a net that diverged at once: 0 steps in 0 s
            rate = float(np.float64(steps) / seconds)
        row = {
            "optimizer": optimizer,
            "lr": lr,
            "steps": steps,
            "seconds": seconds,
            "steps_per_second": rate,
            **{k.replace("/", "_"): float(v[-1]) for k, v in history.metrics.items()},
        }
        rows.append(row)
        if label in rates:
            for key in ("train_loss", "test_loss", "seconds"):
                report.metrics[f"compare/{optimizer}/{key}"] = float(row[key])
    table = {key: [row[key] for row in rows] for key in rows[0]}  # pragma: no mutate (same keys)
    report.tables["optimizers"] = table
