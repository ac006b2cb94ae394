"""Benchmark: DIGEST §5's weight movie, toynets' job against the source's way.

1. toynets: the job `+experiment=weight_evolution_halfplane` (30000 full-batch Adam steps, a
   snapshot every 40: 751, the study, the 751-frame GIF and its 50 slider frames logged as
   MLflow images, every figure, the model), run in this process into a fresh store, as
   `toynets` runs it (`app.run_job`): once without the random-walk comparison
   (`study.compare=[]`: the 30000-step job with its movie, target <= 15 s) and once as the
   experiment is (with it). Each is run twice, the first in a fresh process (tracing and
   compiling included), the second as a sweep's next job pays it.
2. The source's way, shortened: the same model in Keras (Dense(1), Glorot uniform, Adam 1e-4,
   sigmoid cross-entropy on logits), trained by one `fit` call of one full batch per step, the
   kernel and the cost read out every 40 steps, then the kernel movie drawn by matplotlib's
   `FuncAnimation` and written by its `PillowWriter` (the source wrote MP4 through FFmpeg,
   which this machine does not have). `--source-steps` steps (default 400) and
   `--source-frames` frames (default 40) are timed and scaled to 30000 steps and 751 frames.

Prints the times, the ratio (source's estimate / toynets' job), and PASS/FAIL for the job
<= 15 s. `--json PATH` writes them.

    python benchmarks/bench_weight_evolution.py     # ~1.5 min on 2 cores
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np
from _common import load_average, write_json

from conftest import compose_config
from toynets import console

STEPS, EVERY = 30000, 40
FRAMES = STEPS // EVERY + 1


def toynets_job(store: Path, extra: list[str]) -> float:
    """Seconds of one `weight_evolution_halfplane` job, from composing to the closed run."""
    from toynets.app import run_job

    overrides = [
        "+experiment=weight_evolution_halfplane",
        f"tracking.uri=sqlite:///{store / 'mlflow.db'}",
        "train.progress=false",
        *extra,
    ]
    t = time.perf_counter()
    run_job(compose_config(overrides))
    return time.perf_counter() - t


def source_training(steps: int) -> tuple[float, list[np.ndarray], list[float]]:
    """The source's loop in Keras: one `fit` call per full-batch step, the kernel and the cost
    kept every EVERY steps. Returns (seconds, kernels, costs)."""
    import keras

    from toynets.config import DatasetConfig
    from toynets.data import make

    data = make(DatasetConfig(name="halfplane", n_train=800, n_test=200, n_features=15), 0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((15,)), keras.layers.Dense(1, kernel_initializer="glorot_uniform")]
    )
    model.compile(
        keras.optimizers.Adam(1e-4), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    x, y = data.x_train.astype(np.float32), data.y_train.astype(np.float32)
    kernels, costs = [], []
    t = time.perf_counter()
    for step in range(steps):
        history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
        if step % EVERY == 0:
            costs.append(history.history["loss"][0])
            kernels.append(model.layers[0].kernel.numpy().copy())
    return time.perf_counter() - t, kernels, costs


def source_movie(kernels: list[np.ndarray], target: Path) -> float:
    """The source's movie: imshow of W^T in `hot` over [-1, 1], a FuncAnimation writing each
    frame through matplotlib's PillowWriter. Returns its seconds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import animation
    from matplotlib.figure import Figure

    t = time.perf_counter()
    fig = Figure(figsize=(7, 2.1))
    ax = fig.subplots()
    image = ax.imshow(kernels[0].T, cmap="hot", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(image)
    title = ax.set_title("")

    def frame(k: int):
        image.set_data(kernels[k].T)
        title.set_text(f"step {k * EVERY}")
        return image, title

    movie = animation.FuncAnimation(fig, frame, frames=len(kernels), interval=40)
    movie.save(target, writer=animation.PillowWriter(fps=25))
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-steps", type=int, default=400)
    parser.add_argument("--source-frames", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    console.import_tensorflow()

    jobs = {}
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "mlruns"
        store.mkdir()
        for label, extra in (("job without the comparison", ["study.compare=[]"]), ("job", [])):
            jobs[f"{label}, first in the process"] = toynets_job(store, extra)
            jobs[f"{label}, next"] = toynets_job(store, extra)

        train_s, kernels, costs = source_training(args.source_steps)
        frames = (kernels * (args.source_frames // max(len(kernels), 1) + 1))[: args.source_frames]
        movie_s = source_movie(frames, Path(folder) / "source.gif")
    source_train = train_s * STEPS / args.source_steps
    source_movie_s = movie_s * FRAMES / args.source_frames
    source_total = source_train + source_movie_s

    print(f"load average {load_average()[0]:.2f}")
    print(f"{'toynets':<52}{'seconds':>10}")
    for label, seconds in jobs.items():
        print(f"  {label:<50}{seconds:>10.2f}")
    print(
        f"source's way: {args.source_steps} fit calls {train_s:.2f} s "
        f"({train_s / args.source_steps * 1e3:.1f} ms a step), {args.source_frames} movie frames "
        f"{movie_s:.2f} s ({movie_s / args.source_frames * 1e3:.0f} ms a frame); "
        f"scaled to {STEPS} steps and {FRAMES} frames: {source_train:.0f} s + "
        f"{source_movie_s:.0f} s = {source_total / 60:.1f} min"
    )
    target = jobs["job without the comparison, first in the process"]
    ratio = source_total / target
    passed = target <= 15
    print(
        f"ratio (source's way / toynets' job, first in the process): {ratio:.0f}x "
        f"[{'PASS' if passed else 'FAIL'} job <= 15 s]"
    )
    if args.json:
        write_json(
            args.json,
            {
                "jobs": jobs,
                "source_fit_seconds_per_step": train_s / args.source_steps,
                "source_movie_seconds_per_frame": movie_s / args.source_frames,
                "source_estimate_seconds": source_total,
                "ratio": ratio,
                "first_source_costs": [float(c) for c in costs[:3]],
            },
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
