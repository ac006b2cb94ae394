"""The `node_removal` study: DIGEST §1, for any trained net, exact where the source sampled.

Artifacts (besides the `train` study's): figures `removal_single`, `removal_subsets`,
`loss_pdf`, `log_loss_pdf`, `grad_pdf`, `log_grad_pdf`, `grad_on_off`, `grad_per_unit`,
`path_covariance`, `gradient_maps`, `loss_map`, `shapley`; tables `node_removal_mc`,
`node_removal_on_off`, `node_removal_units`, `node_removal_best_worst`; data
`node_removal_mc.npz` (p [M], masks [M, N], loss [M], grad [M, N], x_test, y_test),
`node_removal_exact.npz` (shapley_loss, banzhaf_loss, shapley_accuracy, banzhaf_accuracy,
loss_full, loss_empty, loss [2^N], accuracy [2^N]), `node_removal_paths.npz`; and the
interactive `node_removal.html`. Metrics are named `node_removal/...`.
"""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np

from toynets import console
from toynets import data as datasets
from toynets.analysis import node_removal as nr
from toynets.analysis.maps import class_probability
from toynets.config import NodeRemovalConfig
from toynets.net import Net, unit_labels
from toynets.plots import node_removal as figures
from toynets.plots import style
from toynets.report import Report
from toynets.studies import Trained, final_step, input_plane, map_box
from toynets.studies import train as train_study

PREFIX = "node_removal"
COLUMN_TO_METRIC = {"masks_all_units_on": "full_masks"}  # node_removal_mc column -> metric


def layer_masks(net: Net, mask: np.ndarray) -> list[np.ndarray]:
    """A flat mask over all hidden units, split per hidden layer."""
    out, start = [], 0
    for width in net.hidden_sizes:
        out.append(mask[start : start + width])
        start += width
    return out


def fixed_test_set(trained: Trained, cfg: NodeRemovalConfig) -> tuple[np.ndarray, np.ndarray]:
    """The one test set every mask is scored on: `test_size` fresh points drawn with
    `test_seed` (seed 23 in the source), or the dataset's own test set."""
    if cfg.test_seed is None or trained.config is None:
        return trained.data.x_test, trained.data.y_test
    dataset_cfg = dataclasses.replace(
        trained.config.dataset, n_train=1, n_test=cfg.test_size, seed=cfg.test_seed
    )
    fresh = datasets.make(dataset_cfg, cfg.test_seed)
    return fresh.x_test, fresh.y_test


def run(trained: Trained, cfg: NodeRemovalConfig) -> Report:
    report = train_study.run(trained, cfg)
    net = trained.net
    n = nr.n_units(net)
    x, y = fixed_test_set(trained, cfg)
    ones = np.ones((1, n), np.float32)
    full_loss, full_accuracy = (float(v[0]) for v in nr.loss_and_accuracy(net, x, y, ones))
    report.metrics[f"{PREFIX}/full_loss"] = full_loss
    if np.isfinite(full_accuracy):
        report.metrics[f"{PREFIX}/full_accuracy"] = full_accuracy

    single = single_removals(net, x, y)
    report.metrics.update(
        {
            f"{PREFIX}/single_removal/min_loss": float(single.min()),
            f"{PREFIX}/single_removal/median_loss": float(np.median(single)),
            f"{PREFIX}/single_removal/max_loss": float(single.max()),
        }
    )
    enumerate_all = enumerates(cfg, n)
    if cfg.exact == "auto" and not enumerate_all:
        note = (
            f"exact enumeration skipped: {n} hidden units is over study.exact_limit="
            f"{cfg.exact_limit} (2^{n} masks); Monte Carlo only"
        )
        console.say(note)
        report.notes.append(note)
    exact, shapley = None, None
    if enumerate_all:
        with console.stage(f"exact: all 2^{n} masks", total=1 << n, unit="mask") as step:
            exact, shapley = _exact(net, x, y, cfg, report, single, step.advance)
    masks = cfg.n_masks * len(cfg.ps)
    with console.stage(f"Monte Carlo: {masks} masks", total=masks, unit="mask") as step:
        mc = _monte_carlo(net, x, y, cfg, report, full_loss, exact, step.advance)
    with console.stage(f"hypercube paths: {cfg.n_paths}", total=cfg.n_paths * (n + 1)) as step:
        _paths(net, x, y, cfg, report, step.advance)
    with console.stage("maps over the input plane"):
        _maps(trained, cfg, report)
    with console.stage("explorer page"):
        report.files["node_removal.html"] = _explorer(trained, x, y, cfg, shapley)
    report.arrays["node_removal_mc"] = {**mc, "x_test": x, "y_test": y}
    return report


def single_removals(net: Net, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The test loss of the net without unit i, for each hidden unit i (all others on)."""
    n = nr.n_units(net)
    masks = 1.0 - np.eye(n, dtype=np.float32)
    return nr.loss_and_accuracy(net, x, y, masks)[0]


def enumerates(cfg: NodeRemovalConfig, n_units: int) -> bool:
    """Whether all 2^N masks are enumerated: `exact` true, or auto and N <= `exact_limit`."""
    if cfg.exact == "auto":
        return n_units <= cfg.exact_limit
    return bool(cfg.exact)


def _monte_carlo(net, x, y, cfg, report: Report, full_loss: float, exact, progress=None) -> dict:
    """§1's Monte Carlo: masks with units on with probability p; loss and d loss / d mask."""
    n = nr.n_units(net)
    rng = np.random.default_rng(cfg.mc_seed)
    masks = np.concatenate([nr.bernoulli_masks(cfg.n_masks, n, p, rng) for p in cfg.ps])
    p_of = np.repeat(np.asarray(cfg.ps, np.float32), cfg.n_masks)
    loss, grad = nr.loss_and_grad(net, x, y, masks, progress=progress)
    log_loss, log_grad = np.log(loss), grad / loss[:, None]
    samples = {"loss": loss, "log_loss": log_loss, "grad": grad, "log_grad": log_grad}
    shapes = ("loss", "log_loss", "grad")  # skewness and kurtosis: §1's "right-skewed" etc.
    columns = [f"{s}_{q}" for q in samples for s in ("mean", "std")]
    columns += [f"{s}_{q}" for q in shapes for s in ("skew", "kurtosis")]
    columns += ["masks_all_units_on", "distinct_masks", "exact_mean_loss"]
    rows: dict[str, list] = {"p": list(cfg.ps), **{c: [] for c in columns}}
    for p in cfg.ps:
        pick = p_of == np.float32(p)
        stats: dict[str, float] = {}
        for quantity, values in samples.items():
            described = nr.moments(values[pick])
            kept = ("mean", "std", "skew", "kurtosis") if quantity in shapes else ("mean", "std")
            stats.update({f"{s}_{quantity}": described[s] for s in kept})
        stats["full_masks"] = int(masks[pick].all(1).sum())
        stats["distinct_masks"] = len(np.unique(masks[pick], axis=0))
        stats["expected_full_masks"] = cfg.n_masks * p**n
        expected = nr.expected_distinct_masks(n, p, cfg.n_masks)
        stats["expected_distinct_masks"], stats["expected_distinct_masks_std"] = expected
        if exact is not None:
            weights = nr.exact_distribution_weights(exact.sizes, n, p)
            stats["exact_mean_loss"] = float(np.sum(weights * exact.loss))
        for column in columns:
            rows[column].append(stats.get(COLUMN_TO_METRIC.get(column, column), np.nan))
        for key, value in stats.items():
            report.metrics[f"{PREFIX}/p{p}/{key}"] = float(value)
    report.tables["node_removal_mc"] = rows
    _sanity(cfg.ps, rows, n, report)
    _on_off(masks, log_grad, p_of, cfg, report, net.hidden_sizes)
    _pdfs(loss, log_loss, grad, log_grad, p_of, cfg, full_loss, exact, n, report)
    return {"p": p_of, "masks": masks, "loss": loss, "grad": grad}


def _sanity(ps, rows, n: int, report: Report) -> None:
    """§1's check generalised: N (p_hi - p_lo) mean gradient(p_mid) ~ loss(p_hi) - loss(p_lo)."""
    for k in range(1, len(ps) - 1):
        predicted = n * (ps[k + 1] - ps[k - 1]) * rows["mean_grad"][k]
        observed = rows["mean_loss"][k + 1] - rows["mean_loss"][k - 1]
        report.metrics[f"{PREFIX}/sanity/p{ps[k]}/predicted"] = float(predicted)
        report.metrics[f"{PREFIX}/sanity/p{ps[k]}/observed"] = float(observed)


def _on_off(masks, log_grad, p_of, cfg, report: Report, hidden_sizes) -> None:
    """At p = 0.5 (or the middle p): the log-loss gradient split by whether the unit is on."""
    p = 0.5 if 0.5 in cfg.ps else cfg.ps[len(cfg.ps) // 2]
    pick = p_of == np.float32(p)
    m, g = masks[pick], log_grad[pick]
    on, off = g[m == 1], g[m == 0]
    report.tables["node_removal_on_off"] = {
        "unit_state": ["on", "off"],
        "mean_log_grad": [on.mean() if on.size else np.nan, off.mean() if off.size else np.nan],
        "std_log_grad": [on.std() if on.size else np.nan, off.std() if off.size else np.nan],
    }
    for state, values in (("on", on), ("off", off)):
        if values.size:
            report.metrics[f"{PREFIX}/p{p}/log_grad_{state}_mean"] = float(values.mean())
            report.metrics[f"{PREFIX}/p{p}/log_grad_{state}_std"] = float(values.std())
    n = m.shape[1]
    width = cfg.kernel_width
    grid = nr.density_grid(g, width)
    per_on = [nr.gaussian_smoothed_pdf(g[m[:, i] == 1, i], grid, width) for i in range(n)]
    per_off = [nr.gaussian_smoothed_pdf(g[m[:, i] == 0, i], grid, width) for i in range(n)]
    report.figures["grad_per_unit"] = figures.per_unit_pdfs(
        grid, per_on, per_off, "d log loss / d $m_i$", unit_labels(hidden_sizes), p=p
    )
    both = {
        "unit on": nr.gaussian_smoothed_pdf(on, grid, width),
        "unit off": nr.gaussian_smoothed_pdf(off, grid, width),
    }
    report.figures["grad_on_off"] = figures.pdfs(
        grid,
        both,
        "d log loss / d $m_i$",
        title=f"gradient of the log loss at p = {p}, by the state of the unit",
        colours={"unit on": style.ON, "unit off": style.OFF},
        solid_means=f"Monte Carlo, {int(pick.sum())} masks",
    )


def _pdfs(loss, log_loss, grad, log_grad, p_of, cfg, full_loss, exact, n, report) -> None:
    """Densities smoothed by a Gaussian kernel of width `kernel_width` (0.03 in §1)."""

    def densities(values, grid, exact_values=None):
        curves, fitted, exact_curves = {}, {}, {}
        for p in cfg.ps:
            sample = values[p_of == np.float32(p)].ravel()
            label = f"p = {p}"
            curves[label] = nr.gaussian_smoothed_pdf(sample, grid, cfg.kernel_width)
            mu, sigma = sample.mean(), sample.std()
            fitted[label] = np.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
            if exact_values is not None:
                weights = nr.exact_distribution_weights(exact.sizes, n, p)
                keep = weights > 1e-12 * weights.max()
                exact_curves[label] = nr.gaussian_smoothed_pdf(
                    exact_values[keep], grid, cfg.kernel_width, weights[keep]
                )
        return curves, fitted, exact_curves

    sample = f"Monte Carlo, {cfg.n_masks} masks per p"
    exact_values = exact.loss if exact is not None else None
    grid = nr.density_grid(loss if exact_values is None else exact_values, cfg.kernel_width)
    curves, _, exact_curves = densities(loss, grid, exact_values)
    report.figures["loss_pdf"] = figures.pdfs(
        grid,
        curves,
        "test loss",
        vline=(full_loss, f"all units on ({full_loss:.3f})"),
        dashed=exact_curves,
        title="test loss with each unit kept with probability p",
        solid_means=sample,
    )
    log_exact = np.log(exact_values) if exact_values is not None else None
    reach = normal_reach(log_loss, p_of, cfg.ps)
    grid = nr.density_grid(
        np.concatenate([log_loss if log_exact is None else log_exact, reach]), cfg.kernel_width
    )
    curves, fitted, exact_curves = densities(log_loss, grid, log_exact)
    report.figures["log_loss_pdf"] = figures.pdfs(
        grid,
        curves,
        "log test loss",
        vline=(np.log(full_loss), "all units on"),
        dotted=fitted,
        dashed=exact_curves,
        title="log test loss with each unit kept with probability p",
        solid_means=sample,
    )
    for name, values, label in (
        ("grad_pdf", grad, "d loss / d $m_i$"),
        ("log_grad_pdf", log_grad, "d log loss / d $m_i$"),
    ):
        reach = normal_reach(values, p_of, cfg.ps)
        grid = nr.density_grid(np.concatenate([values.ravel(), reach]), cfg.kernel_width)
        curves, fitted, _ = densities(values, grid)
        report.figures[name] = figures.pdfs(
            grid,
            curves,
            label,
            dotted=fitted,
            title=f"{label}, all units and masks, by p",
            solid_means=sample,
        )


def normal_reach(values: np.ndarray, p_of: np.ndarray, ps, sigmas: float = 4.0) -> np.ndarray:
    """mean +- `sigmas` std of the values at each p: how far the fitted normals reach."""
    out = []
    for p in ps:
        sample = values[p_of == np.float32(p)].ravel()
        out += [sample.mean() - sigmas * sample.std(), sample.mean() + sigmas * sample.std()]
    return np.asarray(out)


def _paths(net, x, y, cfg, report: Report, progress=None) -> None:
    """§1's hypercube paths: flip every unit once, in a random order, from a random start."""
    n = nr.n_units(net)
    paths = nr.hypercube_paths(cfg.n_paths, n, np.random.default_rng(cfg.path_seed))
    loss, _ = nr.loss_and_accuracy(net, x, y, paths.reshape(-1, n), chunk=2000, progress=progress)
    log_loss = np.log(loss).reshape(cfg.n_paths, n + 1)
    cov, from_start, from_end = nr.path_covariances(log_loss)
    report.figures["path_covariance"] = figures.path_covariance(cov, from_start, from_end)
    report.arrays["node_removal_paths"] = {"masks": paths, "log_loss": log_loss, "cov": cov}
    complement = float(np.corrcoef(log_loss[:, 0], log_loss[:, -1])[0, 1])
    report.metrics[f"{PREFIX}/paths/complement_correlation"] = complement
    report.metrics[f"{PREFIX}/paths/reversal_gap"] = float(np.max(np.abs(from_start - from_end)))
    report.metrics[f"{PREFIX}/paths/decorrelation_flips"] = float(
        nr.decorrelation_distance(log_loss)
    )


def _exact(
    net, x, y, cfg, report: Report, single: np.ndarray, progress=None
) -> tuple[nr.Enumeration, np.ndarray]:
    """All 2^N masks: exact distributions, Shapley and Banzhaf values, best and worst subsets."""
    table = nr.enumerate_masks(net, x, y, limit=cfg.exact_limit, progress=progress)
    n = table.n
    values = {"shapley_loss": nr.shapley(table.loss), "banzhaf_loss": nr.banzhaf(table.loss)}
    if np.all(np.isfinite(table.accuracy)):
        values["shapley_accuracy"] = nr.shapley(table.accuracy)
        values["banzhaf_accuracy"] = nr.banzhaf(table.accuracy)
    full, empty = float(table.loss[-1]), float(table.loss[0])
    report.arrays["node_removal_exact"] = {
        **values,
        "loss_full": np.float32(full),
        "loss_empty": np.float32(empty),
        "loss": table.loss,
        "accuracy": table.accuracy,
    }
    report.tables["node_removal_units"] = {
        "unit": unit_labels(net.hidden_sizes),
        "loss_without_unit": single,
        **values,
    }
    best, worst = nr.best_and_worst(table)
    names = unit_labels(net.hidden_sizes)
    report.tables["node_removal_best_worst"] = {
        "n_units_kept": list(range(n + 1)),
        "best_units_kept": [_units(s, names) for s in best],
        "best_loss": table.loss[best],
        "worst_units_kept": [_units(s, names) for s in worst],
        "worst_loss": table.loss[worst],
    }
    efficiency = float(values["shapley_loss"].sum() - (full - empty))
    report.metrics.update(
        {
            f"{PREFIX}/exact/loss_full": full,
            f"{PREFIX}/exact/loss_empty": empty,
            f"{PREFIX}/exact/shapley_efficiency_gap": efficiency,
            f"{PREFIX}/exact/most_important_unit": float(np.argmin(values["shapley_loss"])),
            f"{PREFIX}/exact/positive_shapley_units": float(np.sum(values["shapley_loss"] > 0)),
        }
    )
    report.figures["shapley"] = figures.unit_values(
        {"Shapley value": values["shapley_loss"], "Banzhaf value": values["banzhaf_loss"]},
        f"exact Shapley and Banzhaf values of each hidden unit for the test loss (all 2^{n} masks)",
        ylabel="value (< 0: the unit lowers the loss)",
        hidden_sizes=net.hidden_sizes,
    )
    return table, values["shapley_loss"]


def _units(mask_number: int, names: list[str]) -> str:
    """The units a mask number keeps (bit i set: unit i on), space-separated."""
    return " ".join(name for i, name in enumerate(names) if (int(mask_number) >> i) & 1)


def _maps(trained: Trained, cfg: NodeRemovalConfig, report: Report) -> None:
    """Decision maps with units removed (small maps, `map_grid`); per-unit gradient maps and
    the loss map (`grid`), both with all units on (§1)."""
    net, data = trained.net, trained.data
    n = nr.n_units(net)
    names = unit_labels(net.hidden_sizes)
    small, truth = input_plane(data, cfg, cfg.map_grid)
    if data.task != "regression":

        def removal_maps(removed: list[list[int]], suptitle: str, columns: int = 5):
            """Decision maps of the net without each listed set of units."""
            maps = [
                _probability(net, small, np.where(np.isin(np.arange(n), s), 0.0, 1.0))
                for s in removed
            ]
            titles = [removal_title([names[i] for i in s]) for s in removed]
            return figures.map_grid(
                small.x1, small.x2, maps, titles, truth, columns=columns, suptitle=suptitle
            )

        report.figures["removal_single"] = removal_maps(
            [[]] + [[i] for i in range(n)], "decision map with one hidden unit removed"
        )
        report.images["removal_single"] = final_step(trained)
        rng = np.random.default_rng(cfg.mc_seed + 1)
        subsets = [list(s) for s in cfg.subsets] + [
            # replace=None would draw the same (None is falsy): an equivalent mutant
            sorted(rng.choice(n, size=n // 2, replace=False).tolist())  # pragma: no mutate
            for _ in range(cfg.n_random_subsets)
        ]
        if subsets:
            report.figures["removal_subsets"] = removal_maps(
                subsets,
                f"decision map with sets of the {n} hidden units removed",
                columns=min(4, len(subsets)),
            )
    if truth is not None:
        full, full_truth = input_plane(data, cfg, cfg.grid)
        loss, grad = nr.per_point_gradient(net, full.points, full_truth.ravel())
        loss, grad = loss.reshape(full.shape), grad.reshape(*full.shape, n)
        report.figures["gradient_maps"] = figures.unit_maps(
            full.x1,
            full.x2,
            grad,
            "d loss / d $m_i$ over the input plane, all units on",
            "d loss / d $m_i$ (> 0: the unit raises the loss)",
            names,
        )
        report.figures["loss_map"] = figures.single_map(
            full.x1,
            full.x2,
            loss,
            "loss of the true label, all units on",
            "loss",
            truth=full_truth if data.task != "regression" else None,
        )
        report.arrays["node_removal_gradient_maps"] = {
            "x1": full.x1,
            "x2": full.x2,
            "grad": grad,
            "loss": loss,
        }


def removal_title(removed: list[str], width: int = 22) -> str:
    """A small map's title naming the removed units, wrapped to lines of `width` characters."""
    if not removed:
        return "all units"
    return textwrap.fill("without " + ", ".join(removed), width, break_long_words=False)


def _probability(net: Net, grid, mask: np.ndarray) -> np.ndarray:
    return class_probability(net, grid, layer_masks(net, mask))


def _explorer(trained: Trained, x, y, cfg: NodeRemovalConfig, shapley) -> str:
    from toynets.explorer import node_removal_html

    data = trained.data
    box = map_box(data, cfg)
    boundary = None
    if data.name == "circle" and data.truth is not None:
        angle = np.linspace(0, 2 * np.pi, 200)
        radius = float(np.sqrt(np.sqrt(2 / np.pi))) if _faithful(trained) else np.sqrt(2 / np.pi)
        boundary = [np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)]
    return node_removal_html(
        trained.net, x, y, box, shapley, title=trained.title, truth_boundary=boundary
    )


def _faithful(trained: Trained) -> bool:
    return bool(trained.config is not None and trained.config.dataset.faithful)
