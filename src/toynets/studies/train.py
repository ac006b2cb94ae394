"""The `train` study: loss curves, final metrics and the input-plane maps of a trained net.

Classification: the decision map over `cfg.box` (default: the data box, scaled by
`cfg.box_zoom`; 2 gives §1's [-2, 2]^2 around the circle trained on [-1, 1]^2) with the test
points and, where the dataset knows its rule, the true boundary (DIGEST §1). Regression:
estimate, ground truth and error maps (DIGEST §4).
"""

from __future__ import annotations

import numpy as np

from toynets.analysis.maps import class_probability, output_map
from toynets.config import StudyConfig
from toynets.plots.maps import decision_figure, regression_figure
from toynets.plots.training import loss_curves
from toynets.report import Drawing, Report
from toynets.studies import Trained, final_step, input_plane

MAP_FIGURES = ("decision_map", "estimate_map")  # the job's map: classification, regression


def run(trained: Trained, cfg: StudyConfig) -> Report:
    data, history = trained.data, trained.history
    grid, truth = input_plane(data, cfg, cfg.grid)

    report = Report()
    report.tables["history"] = {
        "step": history.eval_step,
        **{name: values for name, values in history.metrics.items()},
    }
    # Drawings: the render worker draws them while the job logs the rest (figures built here
    # were ~0.1 s of each job of a sweep).
    report.figures["loss_curves"] = Drawing(
        loss_curves,
        (history.step_loss, history.eval_step, history.metrics),
        {"title": trained.title},
    )
    if data.task == "regression":
        estimate = output_map(trained.net, grid)[..., 0]
        report.figures["estimate_map"] = Drawing(
            regression_figure,
            (grid.x1, grid.x2, estimate, data.x_train, data.y_train, truth),
            {"title": trained.title},
        )
        report.arrays["estimate_map"] = {"x1": grid.x1, "x2": grid.x2, "estimate": estimate}
        if truth is not None:
            report.metrics["train/map_rmse"] = float(np.sqrt(np.mean((estimate - truth) ** 2)))
    else:
        probability = class_probability(trained.net, grid)
        report.figures["decision_map"] = Drawing(
            decision_figure,
            (grid.x1, grid.x2, probability, data.x_test, data.y_test, truth),
            {"title": trained.title},
        )
        report.arrays["decision_map"] = {"x1": grid.x1, "x2": grid.x2, "probability": probability}
        if truth is not None:
            agree = probability.argmax(-1) == truth
            report.metrics["train/map_agreement"] = float(np.mean(agree))
    if truth is not None:
        report.arrays[next(iter(report.arrays))]["truth"] = truth
    for name in MAP_FIGURES:
        if name in report.figures:  # also an MLflow image: the runs' image grid compares it
            report.images[name] = final_step(trained)
    return report
