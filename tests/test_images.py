"""Key pictures as MLflow images: each study names the figures the runs' Chart view should
compare (`Report.images`, figure -> training step), and tracking logs them with
`log_image(key=<figure>, step=...)` besides their PNG artifacts; a real store read back by
MLflow's client holds them (the browser side is tests/test_ui.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from conftest import logged_study, study_report

TRAIN = ["study=train", "train.epochs=2", "study.grid=30", "tracking.log_model=false"]


@pytest.mark.parametrize(
    ("extra", "key"), [([], "decision_map"), (["dataset=fcnn_prod"], "estimate_map")]
)
def test_the_train_study_names_its_map_at_the_last_step(extra, key) -> None:
    trained, report = study_report([*TRAIN, *extra])
    final = int(trained.history.snapshot_step[-1])
    assert final == trained.history.schedule.steps > 0
    assert report.images == {key: final}
    assert key in report.figures


def test_a_logged_job_holds_its_map_as_an_mlflow_image(tmp_path) -> None:
    run = logged_study(tmp_path, TRAIN)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    names = [a.path for a in client.list_artifacts(run.run_id, "images")]
    pngs = [n for n in names if n.endswith(".png")]
    assert len(pngs) == 1 and len(names) == 2  # the image and MLflow's compressed copy
    assert re.fullmatch(r"images/decision_map\+step\+64\+timestamp\+\d+\+[-0-9a-f]+\.png", pngs[0])
    assert client.get_run(run.run_id).data.tags["mlflow.loggedImages"].lower() == "true"
    image_path = client.download_artifacts(run.run_id, pngs[0], str(tmp_path / "dl"))
    with Image.open(image_path) as image, Image.open(run.figures["decision_map"]) as figure:
        # the 200-dpi figure reduced k times, k the least whole factor giving <= 640 pixels
        k = -(-figure.width // 640)
        assert k == 2 and figure.width > 640 * (k - 1)
        assert image.size == (-(-figure.width // k), -(-figure.height // k))
        # each pixel the mean of a k x k block of the figure (rounded)
        full = np.asarray(figure.convert("RGB"), float)
        h, w = full.shape[0] // k, full.shape[1] // k
        blocks = full[: h * k, : w * k].reshape(h, k, w, k, 3).mean(axis=(1, 3))
        reduced = np.asarray(image.convert("RGB"), float)[:h, :w]
        assert np.abs(reduced - blocks).max() <= 1
