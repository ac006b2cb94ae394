"""The `pruning` study (DIGEST §3): does it matter whether a net is trained and then pruned,
or pruned and then trained?

For each of `cfg.seeds` nets (the job's own, then the job's config with seed + 1, ... made
and trained the job's way: `pipeline.prepare`, `train.fit_population`), every criterion of
`toynets.analysis.pruning` orders the units of each hidden layer; for each fraction the first
ones are removed, and five conditions are compared:

- `trained`: the net as trained (the same at every fraction);
- `pruned`: trained, then pruned (bias compensated unless `cfg.compensate` is false);
- `pruned_finetuned`: trained, pruned, then trained `finetune_steps` more;
- `pruned_first`: the same units removed from the *initial* net (bias compensated with the
  initial net's means), then trained as the original was: same schedule, same batch order;
- `pruned_first_fresh`: a net of the pruned widths from a fresh initialisation (model seed
  + 1000), trained the same way (it depends on the fraction, not on the criterion).

Every net that trains does so in one of two populations (`toynets.train.fit_population`):
the pruned-first nets of every seed, criterion and fraction, and the fine-tuned ones. Removing
nothing (fraction 0) from the initial net gives the original, which is not trained again.

Report: `tables/pruning.csv` (condition, criterion, fraction, seed, test_accuracy, test_loss,
n_params; one row per condition x criterion x fraction x seed, `trained` repeated at every
fraction), `tables/pruning_kernels.csv` (the middle kernels of `trained` and `pruned_first`
compared per criterion and seed), figures `pruning_maps` (conditions x criteria at
`cfg.fraction`, the job's seed), `pruning_training.gif` and `pruning_finetuning.gif` (decision
maps during training and fine-tuning), `pruning_kernels` (§3's scatter and the shifts),
`pruning_fractions` (test accuracy against the fraction, mean +- std over seeds), and
`data/pruning.npz`: every criterion's removal order per seed and layer
(`order_<criterion>_s<seed>_layer<i>`) and the nets in the final.npz format with their keys
prefixed: `initial_s<seed>_`, `trained_s<seed>_`, and at `cfg.fraction`
`pruned_first_<criterion>_s<seed>_`, `pruned_finetuned_<criterion>_s<seed>_`,
`pruned_first_fresh_s<seed>_` (`Net.from_arrays(arrays, prefix)`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toynets.analysis import pruning as pr
from toynets.analysis.maps import class_probability
from toynets.config import PRUNING_FRESH_SEED_OFFSET, Config, PruningConfig
from toynets.data import Dataset
from toynets.model import build, to_net
from toynets.net import Net
from toynets.pipeline import prepare, train_seed
from toynets.plots.node_removal import map_grid
from toynets.plots.pruning import decision_movie, fraction_curves, kernel_scatter
from toynets.report import Drawing, Movie, Report
from toynets.studies import Trained, final_step, input_plane, snapshot_net
from toynets.train import History, Member, fit_population

PREFIX = "pruning"
CONDITIONS = ("trained", "pruned", "pruned_finetuned", "pruned_first", "pruned_first_fresh")
LABELS = {
    "trained": "trained",
    "pruned": "trained, pruned",
    "pruned_finetuned": "pruned, fine-tuned",
    "pruned_first": "pruned first (same init)",
    "pruned_first_fresh": "pruned first (fresh init)",
}
SHORT = {  # panel titles of the map grid
    "trained": "trained",
    "pruned": "pruned",
    "pruned_finetuned": "fine-tuned",
    "pruned_first": "pruned first",
    "pruned_first_fresh": "fresh init",
}

Removal = tuple[tuple[int, ...], ...]  # the removed units of each hidden layer


@dataclass
class Original:
    """One seed's net: its data, its initial and trained weights, its training history."""

    seed: int
    conf: Config
    data: Dataset
    head: str
    initial: Net
    trained: Net
    history: History


@dataclass
class Result:
    """A net of one condition: its final weights and, if it trained, its history."""

    net: Net | None  # None: its training diverged
    history: History | None = None


def seed_offset(conf: Config, k: int) -> Config:
    """The job's config for its k-th extra net: every seed it sets (top-level, and the
    dataset's, model's and training's own when given) plus k."""

    def plus(node: Any) -> Any:
        return node if node.seed is None else dataclasses.replace(node, seed=node.seed + k)

    return dataclasses.replace(
        conf,
        seed=conf.seed + k,
        dataset=plus(conf.dataset),
        model=plus(conf.model),
        train=plus(conf.train),
    )


def originals(trained: Trained, seeds: int, report: Report) -> list[Original]:
    """The job's net, then `seeds - 1` more made and trained the job's way (`prepare`, one
    population) from the job's config with every seed + 1, + 2, ... (`seed_offset`); a net
    whose training diverges is left out, with a note."""
    conf = trained.config
    first = Original(
        conf.seed,
        conf,
        trained.data,
        trained.head,
        snapshot_net(trained.net, trained.history, 0),
        trained.net,
        trained.history,
    )
    others = [seed_offset(conf, k) for k in range(1, seeds)]
    if not others:
        return [first]
    prepared = [prepare(c) for c in others]
    initials = [to_net(model) for _, _, model in prepared]
    members = [
        Member(model, data, c.train, train_seed(c), head)
        for c, (data, head, model) in zip(others, prepared, strict=True)
    ]
    results = fit_population(members)
    out = [first]
    for c, (data, head, model), initial, result in zip(
        others, prepared, initials, results, strict=True
    ):
        if not isinstance(result, History):
            report.notes.append(f"The net of seed {c.seed} diverged and is left out: {result}")
            continue
        out.append(Original(c.seed, c, data, head, initial, to_net(model), result))
    return out


def layer_fractions(fraction: float | Sequence[float], layers: Sequence[int] | None, n: int):
    """A fraction per hidden layer: a list as given; a number for every layer in `layers`
    (None: all), 0 for the others."""
    if isinstance(fraction, Sequence):
        return tuple(float(f) for f in fraction)
    return tuple(float(fraction) if layers is None or i in layers else 0.0 for i in range(n))


def fraction_label(fraction: float | Sequence[float], sizes: Sequence[int], removal: Removal):
    """The `fraction` column: the number itself, or for one per layer the share of all hidden
    units removed."""
    if isinstance(fraction, Sequence):
        return round(sum(len(r) for r in removal) / sum(sizes), 6)
    return float(fraction)


def study_schedule(train: Any, steps: int | None = None, frames: int | None = None) -> Any:
    """The training config of a population of the study: the job's, evaluated only at the
    end (the table scores every net itself), for `steps` steps if given, with a snapshot
    every steps / `frames` if given (the movies)."""
    if steps is not None:
        train = dataclasses.replace(train, steps=steps, epochs=None)
    n = train.steps
    changes: dict[str, Any] = {"eval_every": n or 10**9}
    if frames is not None and n is not None:
        changes["snapshot_every"] = max(1, n // frames)
    return dataclasses.replace(train, **changes)


def _train(starts: dict, train: Any, original_of: dict) -> dict:
    """Train every start (key -> Net, or a fresh Keras model) as one population with the
    training config `train`; key -> Result."""
    keys = list(starts)
    if not keys:
        return {}
    members = [
        Member(
            starts[k],
            original_of[k].data,
            train,
            train_seed(original_of[k].conf),
            original_of[k].head,
        )
        for k in keys
    ]
    results = fit_population(members)
    out = {}
    for key, member, result in zip(keys, members, results, strict=True):
        if not isinstance(result, History):
            out[key] = Result(None)
        elif isinstance(member.model, Net):
            out[key] = Result(snapshot_net(member.model, result, -1), result)
        else:
            out[key] = Result(to_net(member.model), result)
    return out


def run(trained: Trained, cfg: PruningConfig) -> Report:
    report = Report()
    nets = originals(trained, cfg.seeds, report)
    sizes = trained.net.hidden_sizes
    n_layers = len(sizes)
    sweep = [(f, layer_fractions(f, cfg.layers, n_layers)) for f in cfg.fractions]
    main = layer_fractions(cfg.fraction, cfg.layers, n_layers)
    if main not in [per_layer for _, per_layer in sweep]:
        sweep.append((cfg.fraction, main))
    shapley = pr.ShapleySettings(
        cfg.shapley_exact_limit, cfg.shapley_permutations, cfg.shapley_points, cfg.order_seed
    )

    # Which units each criterion removes, per seed and fraction.
    orders: dict[tuple[int, str], list[np.ndarray]] = {}
    removals: dict[tuple[int, str, int], Removal] = {}  # (seed, criterion, sweep index)
    for o in nets:
        for criterion in cfg.criteria:
            rng = np.random.default_rng([cfg.order_seed, o.seed])
            order = pr.removal_order(
                criterion, o.trained, o.data.x_train, o.data.y_train, rng, shapley
            )
            orders[o.seed, criterion] = order
            for j, (_, per_layer) in enumerate(sweep):
                removed = pr.removed_units(order, per_layer)
                removals[o.seed, criterion, j] = tuple(tuple(int(u) for u in r) for r in removed)

    # The nets to train: pruned first (same init, and fresh), and the fine-tuned ones.
    steps = len(trained.history.step_loss)
    finetune = study_schedule(
        trained.config.train, cfg.finetune_steps or max(1, steps // 5), cfg.movie_frames
    )
    by_seed = {o.seed: o for o in nets}
    means = {o.seed: pr.mean_activations(o.trained, o.data.x_train) for o in nets}
    initial_means = {o.seed: pr.mean_activations(o.initial, o.data.x_train) for o in nets}
    first_starts: dict = {}
    tune_starts: dict = {}
    original_of: dict = {}
    pruned: dict[tuple[int, Removal], Net] = {}
    for (seed, _, _), removal in removals.items():
        o = by_seed[seed]
        if (seed, removal) in pruned:
            continue
        pruned[seed, removal] = pr.prune(
            o.trained, removal, means[seed] if cfg.compensate else None
        )
        tune_starts["tune", seed, removal] = pruned[seed, removal]
        original_of["tune", seed, removal] = o
        if any(removal):
            first_starts["first", seed, removal] = pr.prune(
                o.initial, removal, initial_means[seed] if cfg.compensate else None
            )
            original_of["first", seed, removal] = o
        kept = tuple(n - len(r) for n, r in zip(sizes, removal, strict=True))
        if ("fresh", seed, kept) not in first_starts:
            model_seed = o.conf.seed if o.conf.model.seed is None else o.conf.model.seed
            first_starts["fresh", seed, kept] = build(
                dataclasses.replace(o.conf.model, hidden=list(kept)),
                o.data.n_features,
                o.head,
                o.data.n_classes,
                model_seed + PRUNING_FRESH_SEED_OFFSET,
            )
            original_of["fresh", seed, kept] = o
    trained_results = _train(first_starts, study_schedule(trained.config.train), original_of)
    trained_results.update(_train(tune_starts, finetune, original_of))

    def result(condition: str, seed: int, removal: Removal = ()) -> Result:
        """The net of a condition (the trained net takes no removal)."""
        o = by_seed[seed]
        if condition == "trained" or (condition == "pruned_first" and not any(removal)):
            return Result(o.trained, o.history)
        if condition == "pruned":
            return Result(pruned[seed, removal])
        if condition == "pruned_finetuned":
            return trained_results["tune", seed, removal]
        if condition == "pruned_first":
            return trained_results["first", seed, removal]
        assert condition == "pruned_first_fresh"  # a fresh net of the kept sizes
        kept = tuple(n - len(r) for n, r in zip(sizes, removal, strict=True))
        return trained_results["fresh", seed, kept]

    # The table: every condition x criterion x fraction x seed on its own test set.
    rows: dict[str, list] = {k: [] for k in ("condition", "criterion", "fraction", "seed")}
    rows.update({k: [] for k in ("test_accuracy", "test_loss", "n_params")})
    scores: dict[tuple[str, str, int, int], tuple[float, float]] = {}
    diverged = 0
    for (seed, criterion, j), removal in removals.items():
        data = by_seed[seed].data
        for condition in CONDITIONS:
            net = result(condition, seed, removal).net
            if net is None:
                diverged += 1
                loss, accuracy, n_params = float("nan"), float("nan"), 0
            else:
                loss, accuracy = pr.loss_and_accuracy(net, data.x_test, data.y_test)
                n_params = pr.n_params(net)
            scores[condition, criterion, j, seed] = (accuracy, loss)
            for key, value in (
                ("condition", condition),
                ("criterion", criterion),
                ("fraction", fraction_label(sweep[j][0], sizes, removal)),
                ("seed", seed),
                ("test_accuracy", accuracy),
                ("test_loss", loss),
                ("n_params", n_params),
            ):
                rows[key].append(value)
    report.tables["pruning"] = rows
    if diverged:
        report.notes.append(f"{diverged} rows are NaN: those nets' training diverged.")

    main_index = next(j for j, (_, per_layer) in enumerate(sweep) if per_layer == main)
    regression = trained.data.task == "regression"
    metric = 1 if regression else 0  # index into (accuracy, loss)
    metric_name = "test_loss" if regression else "test_accuracy"
    seeds = [o.seed for o in nets]
    for criterion in cfg.criteria:
        for condition in CONDITIONS:
            values = [scores[condition, criterion, main_index, s][metric] for s in seeds]
            report.metrics[f"{PREFIX}/{criterion}/{condition}/{metric_name}"] = float(
                nan_mean(values)
            )

    _kernels(report, cfg, nets, removals, main_index, result)
    _fraction_figure(report, cfg, sweep, scores, seeds, metric, metric_name)
    if not regression:
        _maps(report, cfg, trained, removals, main_index, result, scores)
    else:
        report.notes.append("Decision maps and movies are drawn for classification only.")
    arrays = {
        f"order_{criterion}_s{seed}_layer{i}": np.asarray(layer_order)
        for (seed, criterion), order in orders.items()
        for i, layer_order in enumerate(order)
    }
    for o in nets:
        arrays.update(net_arrays(f"initial_s{o.seed}", o.initial))
        arrays.update(net_arrays(f"trained_s{o.seed}", o.trained))
        for criterion in cfg.criteria:
            removal = removals[o.seed, criterion, main_index]
            for condition in ("pruned_finetuned", "pruned_first"):
                net = result(condition, o.seed, removal).net
                arrays.update(net_arrays(f"{condition}_{criterion}_s{o.seed}", net))
        fresh = result("pruned_first_fresh", o.seed, removals[o.seed, cfg.criteria[0], main_index])
        arrays.update(net_arrays(f"pruned_first_fresh_s{o.seed}", fresh.net))
    report.arrays["pruning"] = arrays
    if "shapley" in cfg.criteria and max(sizes) > cfg.shapley_exact_limit:
        report.notes.append(
            f"Shapley values of layers wider than {cfg.shapley_exact_limit} units are "
            f"estimated from {cfg.shapley_permutations} random orders (study.shapley_*)."
        )
    return report


def nan_mean(values: Any, axis: int | None = None) -> Any:
    """The mean over the values that are not NaN (the nets that did not diverge); NaN, with
    no warning, where every one is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(values, float), axis=axis)


def nan_std(values: np.ndarray) -> np.ndarray:
    """The sample std (ddof 1) over the last axis of the values that are not NaN; NaN, with
    no warning, where fewer than two are."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(values, axis=-1, ddof=1)


def net_arrays(name: str, net: Net | None) -> dict[str, np.ndarray]:
    """`net`'s final.npz arrays with keys prefixed `<name>_` (none for a diverged net)."""
    if net is None:
        return {}
    return {f"{name}_{key}": value for key, value in net.to_arrays().items()}


def middle_kernel(n_layers: int) -> int:
    """The kernel §3 compares: between the first two hidden layers (W1), or W0 for one."""
    return 1 if n_layers >= 2 else 0


def _kernel_pair(o: Original, other: Net, removal: Removal) -> tuple[np.ndarray, np.ndarray]:
    """The trained net's middle kernel cut to the units a pruned net kept, and the pruned
    net's own."""
    k = middle_kernel(len(o.trained.hidden_sizes))
    kept = pr.kept_units(o.trained.hidden_sizes, [np.array(r, int) for r in removal])
    rows = kept[k - 1] if k > 0 else np.arange(o.trained.n_inputs)
    layer = o.trained.layers[k]
    return pr.kernel_between(layer.W, rows, pr.unit_columns(layer, kept[k])), other.layers[k].W


def _kernels(report, cfg, nets, removals, main_index, result) -> None:
    table: dict[str, list] = {
        k: [] for k in ("criterion", "seed", "n_weights", "unchanged", "correlation")
    }
    table.update({"shift_abs_median": [], "never_updated_trained": []})
    pairs, titles, unchanged = [], [], []
    k = middle_kernel(len(nets[0].trained.hidden_sizes))
    for criterion in cfg.criteria:
        per_seed = []
        for o in nets:
            removal = removals[o.seed, criterion, main_index]
            first = result("pruned_first", o.seed, removal).net
            if first is None:
                continue
            a, b = _kernel_pair(o, first, removal)
            comparison = pr.compare_kernels(a, b)
            never = pr.never_updated(o.initial.layers[k].W, o.trained.layers[k].W).mean()
            shift = np.abs(comparison.shift)
            median = float(np.median(shift)) if shift.size else 0.0
            for key, value in (
                ("criterion", criterion),
                ("seed", o.seed),
                ("n_weights", a.size),
                ("unchanged", comparison.unchanged),
                ("correlation", comparison.correlation),
                ("shift_abs_median", median),
                ("never_updated_trained", float(never)),
            ):
                table[key].append(value)
            per_seed.append((comparison.unchanged, comparison.correlation, median))
            if o is nets[0]:
                pairs.append((a, b))
                titles.append(criterion)
                unchanged.append(comparison.unchanged)
        if per_seed:
            values = np.array(per_seed)
            for name, column in zip(
                ("unchanged", "correlation", "shift_abs_median"), values.T, strict=True
            ):
                report.metrics[f"{PREFIX}/{criterion}/kernel_{name}"] = float(nan_mean(column))
    report.tables["pruning_kernels"] = table
    if pairs:
        init_limit = float(np.abs(nets[0].initial.layers[k].W).max())
        report.figures["pruning_kernels"] = Drawing(
            kernel_scatter,
            (pairs, titles, "trained", "pruned first, trained\n(same init)", unchanged),
            {
                "init_limit": init_limit,
                "zoom": 2 * init_limit,
                "suptitle": f"kernel W{k} of the kept units, seed {nets[0].seed} "
                "(shaded: the initial range)",
            },
        )


def _fraction_figure(report, cfg, sweep, scores, seeds, metric, metric_name) -> None:
    indices = sorted(
        (j for j, (f, _) in enumerate(sweep) if not isinstance(f, Sequence)),
        key=lambda j: sweep[j][0],
    )
    fractions = np.array([sweep[j][0] for j in indices])
    values = np.array(
        [
            [[[scores[c, crit, j, s][metric] for s in seeds] for j in indices] for c in CONDITIONS]
            for crit in cfg.criteria
        ]
    )  # [criteria, conditions, fractions, seeds]
    spread = nan_std(values) if len(seeds) > 1 else np.zeros(values.shape[:-1])
    label = metric_name.replace("_", " ")
    report.figures["pruning_fractions"] = Drawing(
        fraction_curves,
        (
            fractions,
            list(cfg.criteria),
            [LABELS[c] for c in CONDITIONS],
            nan_mean(values, axis=-1),
            spread,
            label,
        ),
        {"suptitle": f"{label} against the fraction removed, {len(seeds)} seeds"},
    )


def _maps(report, cfg, trained: Trained, removals, main_index, result, scores) -> None:
    data = trained.data
    seed = trained.config.seed
    grid, truth = input_plane(data, cfg, cfg.grid)
    fraction = cfg.fraction

    probabilities, titles = [], []
    for condition in CONDITIONS:
        for criterion in cfg.criteria:
            net = result(condition, seed, removals[seed, criterion, main_index]).net
            probability = (
                class_probability(net, grid)
                if net is not None
                else np.full((*grid.shape, data.n_classes), np.nan)
            )
            probabilities.append(probability)
            accuracy = scores[condition, criterion, main_index, seed][0]
            shown = "diverged" if net is None else f"{accuracy:.0%}"
            titles.append(f"{criterion}\n{SHORT[condition]}: {shown}")
    report.images["pruning_maps"] = final_step(trained)
    report.figures["pruning_maps"] = Drawing(
        map_grid,
        (grid.x1, grid.x2, probabilities, titles, truth),
        {
            "columns": len(cfg.criteria),
            "suptitle": f"{fraction} of the units removed, seed {seed}, test accuracy",
        },
    )

    def movie(panels: list[tuple[str, Result]], name: str, what: str) -> None:
        ok = [(title, r) for title, r in panels if r.history is not None]
        if not ok:
            return
        steps = ok[0][1].history.snapshot_step  # pragma: no mutate (one schedule)
        frames = np.linspace(0, len(steps) - 1, min(cfg.movie_frames, len(steps))).round()
        frames = np.unique(frames.astype(int))
        maps = np.stack(
            [
                [class_probability(snapshot_net(r.net, r.history, t), grid) for _, r in ok]
                for t in frames
            ]
        )
        report.figures[name] = Movie(
            decision_movie,
            (grid.x1, grid.x2, maps, steps[frames], [t for t, _ in ok], truth),
            {"columns": min(4, len(ok)), "suptitle": what},
        )

    first = [("trained", result("trained", seed))]
    for criterion in cfg.criteria:
        removal = removals[seed, criterion, main_index]
        first.append((f"pruned first\n{criterion}", result("pruned_first", seed, removal)))
    removal = removals[seed, cfg.criteria[0], main_index]  # pragma: no mutate (same count)
    first.append(("pruned first\nfresh init", result("pruned_first_fresh", seed, removal)))
    movie(first, "pruning_training", f"training, {fraction} removed first")
    tuned = [
        (criterion, result("pruned_finetuned", seed, removals[seed, criterion, main_index]))
        for criterion in cfg.criteria
    ]
    movie(tuned, "pruning_finetuning", f"fine-tuning after removing {fraction}")
