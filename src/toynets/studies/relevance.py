"""The `relevance` study: DIGEST §2 on any trained net: which inputs, hidden units and biases
carry each decision, by every method of `toynets.analysis.relevance`.

Artifacts (besides the `train` study's): figures `relevance_maps`, `bias_relevance`,
`breakdown`, `instability`, `perturbation`; tables `methods` (the rule table), `conservation`,
`perturbation`, `perturbation_curves`, `instability`, `epsilon_sweep`; data `relevance.npz`
(the contract: x [n, d], target [n], epsilon, baseline [d], R_<method> [n, d],
Rbias_blame_bias_<i> [n, units of layer i], plus output [n] and Rbias_blame_bias_shared [n]) and
`relevance_maps.npz` (x1, x2, output, R_<method> [rows, cols, d], bias_<i>, bias_fraction).
Metrics are named `relevance/...`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from toynets import console
from toynets.analysis import relevance as rel
from toynets.config import RelevanceConfig
from toynets.data import Dataset
from toynets.net import Net, unit_labels
from toynets.plots import relevance as figures
from toynets.report import Report
from toynets.studies import Trained, final_step, input_plane
from toynets.studies import train as train_study

PREFIX = "relevance"
INSTABILITY_METHODS = ("lrp_conserving", "lrp_epsilon", "blame_bias")


def baseline_point(baseline: str | list[float], data: Dataset) -> np.ndarray:
    """The baseline input [d]: zeros, the training mean, or the given point."""
    if baseline == "zeros":
        return np.zeros(data.n_features)
    if baseline == "mean":
        return np.asarray(data.x_train, np.float64).mean(axis=0)
    return np.asarray(baseline, np.float64)


def targets(net: Net, x: np.ndarray, target: str | int) -> np.ndarray:
    """The output unit explained per point: the winning class of a softmax head (the single
    output otherwise) for "predicted", else the given class."""
    if target != "predicted":
        return np.full(len(x), int(target))
    if net.n_outputs == 1:
        return np.zeros(len(x), int)
    return net.logits(x).argmax(axis=-1)


def explain_and_blame(net, x, target, methods, settings, baseline):
    """Every method's relevance, and blame the bias's (computed once, run or not): the
    reference of the bias fraction, the scale-up and the bias maps."""
    extra = [] if "blame_bias" in methods else ["blame_bias"]
    explained = rel.explain(net, x, target, [*methods, *extra], settings, baseline)
    blamed = explained["blame_bias"]
    return {m: explained[m] for m in methods}, blamed


def run(trained: Trained, cfg: RelevanceConfig) -> Report:
    report = train_study.run(trained, cfg)
    net, data = trained.net, trained.data
    activation = rel.activation_of(net)
    methods = list(cfg.methods or rel.valid_methods(activation))
    settings = rel.Settings(cfg.epsilon, cfg.alpha, cfg.max_rule, cfg.deeplift_max)
    baseline = baseline_point(cfg.baseline, data)
    x = np.asarray(data.x_test[: cfg.n_explain], np.float64)
    target = targets(net, x, cfg.target)
    with console.stage(f"relevance of {len(x)} test points, {len(methods)} methods"):
        explained, blamed = explain_and_blame(net, x, target, methods, settings, baseline)
    steps = rel.forward(net, x)
    output = rel.explained_output(steps, target)
    at_baseline = net.logits(baseline[None])[0, target]  # f(baseline) for each point's unit
    report.tables["methods"] = method_table(methods)
    _conservation(explained, output, output - at_baseline, report)
    sample = _instability(net, x, target, explained, blamed, cfg, settings, report)
    with console.stage("region perturbation (MoRF, LeRF, random)"):
        _perturbation(net, x, target, explained, baseline, cfg, report, trained.title)
    with console.stage(f"relevance maps on a {cfg.grid} x {cfg.grid} grid"):
        _maps(trained, cfg, methods, settings, baseline, rel.bias_fraction(blamed), report)
    one = slice(sample, sample + 1)
    sample_blame = rel.Explanation(blamed.inputs[one], [b[one] for b in blamed.biases])
    _breakdown(net, x[one], target[one], sample_blame, output[sample], settings, report, trained)
    report.arrays["relevance"] = {
        "x": x,
        "target": target,
        "epsilon": np.float64(cfg.epsilon),
        "baseline": baseline,
        "output": output,
        **{f"R_{name}": e.inputs for name, e in explained.items()},
        **{f"Rbias_blame_bias_{i}": b for i, b in enumerate(blamed.biases)},
        "Rbias_blame_bias_shared": blamed.bias_total,
    }
    report.metrics[f"{PREFIX}/sample"] = float(sample)
    for name, other in (("lrp_q", "lrp0"), ("lrp0", "gradient_x_input")):
        if name in explained and other in explained:  # §2's equalities, checked on this net
            gap = np.abs(explained[name].inputs - explained[other].inputs).max()
            report.metrics[f"{PREFIX}/{name}/max_difference_to_{other}"] = float(gap)
    return report


def method_table(methods: list[str]) -> dict[str, list]:
    """§2's tables: the rule each method uses per layer type, and where it is valid."""
    rows = [rel.METHODS[m] for m in methods]
    return {
        "method": [m.name for m in rows],
        "matrix": [m.matrix for m in rows],
        "nonlinearity": [m.nonlinearity for m in rows],
        "maximum": [m.maximum for m in rows],
        "starts_from": ["1" if m.start == "one" else "f(x)" for m in rows],
        "activations": [" ".join(m.activations) for m in rows],
        "conserves": [m.conserves or "-" for m in rows],
        "source": [m.reference for m in rows],
    }


def _conservation(explained, output, delta, report: Report) -> None:
    """Per method: sum(input R) + sum(bias R) - the quantity it explains (f(x), or
    f(x) - f(baseline) for deeplift), over the explained points."""
    rows: dict[str, list] = {
        k: []
        for k in ("method", "explains", "input_sum", "bias_sum", "mean_abs_error", "max_abs_error")
    }
    for name, explanation in explained.items():
        reference = delta if name == "deeplift" else output
        error = np.abs(rel.conservation_error(explanation, reference))
        rows["method"].append(name)
        rows["explains"].append("f(x) - f(baseline)" if name == "deeplift" else "f(x)")
        rows["input_sum"].append(float(explanation.inputs.sum(axis=-1).mean()))
        rows["bias_sum"].append(float(explanation.bias_total.mean()))
        rows["mean_abs_error"].append(float(error.mean()))
        rows["max_abs_error"].append(float(error.max()))
        report.metrics[f"{PREFIX}/{name}/conservation_max_error"] = float(error.max())
        report.metrics[f"{PREFIX}/{name}/conservation_mean_error"] = float(error.mean())
    report.tables["conservation"] = rows


def _instability(net, x, target, explained, blamed, cfg, settings, report: Report) -> int:
    """§2's problem in numbers. Where the biases carry over `bias_dominance` of a decision
    (blame the bias), how much larger each method's input relevance is than blame-the-bias's
    (`scale_up`); and, over `epsilon_sweep`, the largest input relevance of the LRP that puts
    all of f(x) on the inputs (lrp_conserving) against lrp_epsilon's, and lrp_epsilon's
    distance to lrp0. Returns the explained point to break down (`cfg.sample`, or the one
    the biases carry most)."""
    fraction = rel.bias_fraction(blamed)
    mostly_bias = fraction > cfg.bias_dominance
    report.metrics[f"{PREFIX}/bias_fraction_median"] = float(np.nanmedian(fraction))
    report.metrics[f"{PREFIX}/mostly_bias_fraction"] = float(mostly_bias.mean())
    rows: dict[str, list] = {k: [] for k in ("method", "points", "count", "median_scale_up")}
    scaled = {}
    for name, explanation in explained.items():
        if not rel.METHODS[name].decomposes_output:
            continue
        scaled[name] = rel.scale_up(explanation.inputs, blamed.inputs)
        for where, pick in (("mostly_bias", mostly_bias), ("rest", ~mostly_bias)):
            finite = scaled[name][pick & np.isfinite(scaled[name])]
            median = float(np.median(finite)) if finite.size else np.nan
            rows["method"].append(name)
            rows["points"].append(where)
            rows["count"].append(int(pick.sum()))
            rows["median_scale_up"].append(median)
            report.metrics[f"{PREFIX}/{name}/scale_up_median_{where}"] = median
    report.tables["instability"] = rows
    sweep = epsilon_sweep(net, x, target, blamed, mostly_bias, cfg.epsilon_sweep, settings)
    report.tables["epsilon_sweep"] = sweep
    report.figures["instability"] = figures.instability(
        fraction,
        {m: scaled[m] for m in INSTABILITY_METHODS if m in scaled and m != "blame_bias"},
        cfg.bias_dominance,
        sweep,
        float(np.abs(blamed.inputs).max()),
    )
    if cfg.sample is not None:
        return cfg.sample
    return int(np.nanargmax(np.where(np.isfinite(fraction), fraction, np.nan)))


def epsilon_sweep(net, x, target, blamed, mostly_bias, epsilons, settings) -> dict[str, list]:
    """Per eps and method (lrp_conserving, lrp_epsilon): the largest |R_i| over the points,
    the median scale-up where the decision is mostly bias, and the largest |R_i - R_lrp0_i|."""
    rows: dict[str, list] = {
        k: []
        for k in (
            "epsilon",
            "method",
            "max_abs_relevance",
            "median_scale_up_mostly_bias",
            "max_distance_to_lrp0",
        )
    }
    for eps in epsilons:
        swept = dataclasses.replace(settings, epsilon=float(eps))
        explained = rel.explain(net, x, target, ["lrp_conserving", "lrp_epsilon"], swept)
        for name, explanation in explained.items():
            up = rel.scale_up(explanation.inputs, blamed.inputs)[mostly_bias]
            up = up[np.isfinite(up)]
            rows["epsilon"].append(float(eps))
            rows["method"].append(name)
            rows["max_abs_relevance"].append(float(np.abs(explanation.inputs).max()))
            rows["median_scale_up_mostly_bias"].append(float(np.median(up)) if up.size else np.nan)
            distance = np.abs(explanation.inputs - blamed.inputs).max()
            rows["max_distance_to_lrp0"].append(float(distance))
    return rows


def _perturbation(net, x, target, explained, baseline, cfg, report: Report, title: str) -> None:
    """Region perturbation (Samek et al. 2015): inputs set to the baseline one at a time,
    most relevant first (MoRF) or least (LeRF), against random orders; AOPC per method, and
    the share of |R| on x1 (the whole decision of the halfplane data)."""
    rng = np.random.default_rng(cfg.order_seed)
    n, d = x.shape
    random_curves = [
        rel.perturbation_curve(net, x, target, rel.random_orders(n, d, rng), baseline)
        for _ in range(cfg.n_random_orders)
    ]
    random_curve = np.mean(random_curves, axis=0)
    aopc_random = rel.aopc(random_curve)
    report.metrics[f"{PREFIX}/aopc_random"] = aopc_random
    table: dict[str, list] = {
        k: [] for k in ("method", "aopc_morf", "aopc_lerf", "morf_minus_lerf", "x1_share", "rank")
    }
    curves: dict[str, list] = {"method": [], "order": [], "removed": [], "mean_output": []}
    mean_morf, aopcs = {}, {}
    for name, explanation in explained.items():
        values = {}
        for order in ("morf", "lerf"):
            orders = rel.removal_orders(explanation.inputs, order)
            curve = rel.perturbation_curve(net, x, target, orders, baseline)
            values[order] = rel.aopc(curve)
            curves["method"] += [name] * (d + 1)
            curves["order"] += [order] * (d + 1)
            curves["removed"] += list(range(d + 1))
            curves["mean_output"] += list(curve.mean(axis=0))
            if order == "morf":
                mean_morf[name] = curve.mean(axis=0)
        share = float(np.nanmean(rel.relevance_share(explanation.inputs, 0)))
        aopcs[name] = (values["morf"], values["lerf"])
        for key, value in (
            ("aopc_morf", values["morf"]),
            ("aopc_lerf", values["lerf"]),
            ("x1_share", share),
        ):
            report.metrics[f"{PREFIX}/{name}/{key}"] = value
        table["method"].append(name)
        table["aopc_morf"].append(values["morf"])
        table["aopc_lerf"].append(values["lerf"])
        table["morf_minus_lerf"].append(values["morf"] - values["lerf"])
        table["x1_share"].append(share)
    table["rank"] = competition_ranks(table["aopc_morf"])
    curves["method"] += ["random"] * (d + 1)
    curves["order"] += ["random"] * (d + 1)
    curves["removed"] += list(range(d + 1))
    curves["mean_output"] += list(random_curve.mean(axis=0))
    report.tables["perturbation"] = table
    report.tables["perturbation_curves"] = curves
    report.figures["perturbation"] = figures.perturbation(
        mean_morf, random_curve.mean(axis=0), aopcs, title=title
    )


def competition_ranks(values: list[float], tolerance: float = 1e-9) -> list[int]:
    """1 + the number of values larger by more than `tolerance` (equal methods share a rank)."""
    v = np.asarray(values, float)
    return [int(1 + np.sum(v > x + tolerance)) for x in v]


def feature_blocks(inputs: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The map rows: x1, x2 and, with more inputs, the sum over x3..xd ([..., 2 or 3])."""
    d = inputs.shape[-1]
    if d <= 2:
        return inputs, [f"$x_{{{i + 1}}}$" for i in range(d)]
    rest = inputs[..., 2:].sum(axis=-1, keepdims=True)
    return np.concatenate([inputs[..., :2], rest], axis=-1), ["$x_1$", "$x_2$", f"$x_3..x_{{{d}}}$"]


def _maps(trained: Trained, cfg, methods, settings, baseline, fractions, report: Report) -> None:
    """Input relevance of every method and the biases' relevance over the plane (the other
    inputs at their training mean, as the decision map)."""
    net, data = trained.net, trained.data
    grid, _ = input_plane(data, cfg, cfg.grid)
    points = np.asarray(grid.points, np.float64)  # pragma: no mutate (stored as float32)
    target = targets(net, points, cfg.target)
    explained, blamed = explain_and_blame(net, points, target, methods, settings, baseline)
    output = rel.explained_output(rel.forward(net, points), target)
    shape = grid.shape
    maps = {name: e.inputs.reshape(*shape, e.inputs.shape[1]) for name, e in explained.items()}
    blocks = {name: feature_blocks(values)[0] for name, values in maps.items()}
    names = feature_blocks(next(iter(maps.values())))[1]
    report.figures["relevance_maps"] = figures.relevance_maps(
        grid.x1, grid.x2, blocks, names, title=trained.title
    )
    report.images["relevance_maps"] = final_step(trained)
    layer_maps = [b.sum(axis=1).reshape(shape) for b in blamed.biases]  # [points, units]
    fraction = rel.bias_fraction(blamed).reshape(shape)
    report.figures["bias_relevance"] = figures.bias_maps(
        grid.x1, grid.x2, layer_maps, fraction, fractions, title=trained.title
    )
    report.arrays["relevance_maps"] = {
        "x1": grid.x1,
        "x2": grid.x2,
        "output": output.reshape(shape).astype(np.float32),
        "bias_fraction": fraction.astype(np.float32),
        **{f"R_{name}": values.astype(np.float32) for name, values in maps.items()},
        **{f"bias_{i}": m.astype(np.float32) for i, m in enumerate(layer_maps)},
    }


def _breakdown(
    net: Net, x, target, blamed, output: float, settings, report: Report, trained: Trained
) -> None:
    """One decision level by level (blame the bias): the inputs and every layer's biases,
    then each hidden layer's units and the biases after it; each level sums to f(x)."""
    hidden = rel.hidden_relevance(net, x, target, settings)
    bias = [float(b[0].sum()) for b in blamed.biases]
    bias_labels = [f"biases of layer {i}" for i in range(len(bias) - 1)] + ["output bias"]
    names = [f"$x_{{{i + 1}}}$" for i in range(x.shape[1])]  # braces: x_{15}, not x_1 5
    levels = [("inputs and all biases", [*names, *bias_labels], [*blamed.inputs[0], *bias])]
    units = unit_labels(net.hidden_sizes)
    start = 0
    for i, values in enumerate(hidden):
        labels = [f"unit {u}" for u in units[start : start + values.shape[1]]]
        start += values.shape[1]
        shown, kept = _largest(labels, list(values[0]), 12)
        levels.append(
            (
                f"hidden layer {i} and the biases after it",
                shown + bias_labels[i + 1 :],
                kept + bias[i + 1 :],
            )
        )
    point = ", ".join(f"{v:.3g}" for v in x[0, :4]) + (", ..." if x.shape[1] > 4 else "")
    report.figures["breakdown"] = figures.breakdown(
        levels, float(output), title=f"{trained.title}\nx = ({point}), output unit {int(target[0])}"
    )


def _largest(labels: list[str], values: list[float], keep: int) -> tuple[list[str], list[float]]:
    """The `keep` largest nonzero |values| in their order, the others summed as one entry."""
    nonzero = [i for i, v in enumerate(values) if v != 0]
    if len(values) <= keep and len(nonzero) == len(values):
        return labels, values
    top = set(sorted(nonzero, key=lambda i: -abs(values[i]))[: keep - 1])
    shown = [
        (label, v) for i, (label, v) in enumerate(zip(labels, values, strict=True)) if i in top
    ]
    other = sum(v for i, v in enumerate(values) if i not in top)
    rest = len(values) - len(shown)
    return [s[0] for s in shown] + [f"{rest} other units"], [s[1] for s in shown] + [other]
