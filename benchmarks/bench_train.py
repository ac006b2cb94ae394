"""Benchmark: the compiled toynets trainer against Keras `fit`, side by side in one process.

The problem is the DIGEST §5 logistic regression: the `halfplane` dataset (800 training rows of
15 features: x1, x2 = 10 randn, 13 irrelevant features of 0.01 randn, y = 1 iff x1 >= 0), a
single Dense unit with a logit head, full batch, Adam lr 1e-4. Every step is the same
arithmetic, so the differences are pure per-step overhead. Measured:

1. toynets `Trainer.fit` with one compiled chunk (snapshot_every = steps) and with the §5
   recording schedule (snapshot_every = 40: a weight snapshot and an evaluation every 40 steps);
2. baseline A, plain Keras: `model.fit(x, y, batch_size=800, epochs=steps, shuffle=False)`,
   one batch per epoch (slow, so it runs fewer steps);
3. baseline B, tuned Keras: `compile(steps_per_execution=K)` and
   `fit(Dataset.from_tensors((x, y)).repeat(), steps_per_epoch=steps, epochs=1)`.

Each method runs twice on the same model object: the first call ("incl. compile") pays for
tracing and compiling, the second ("steady") reuses the compiled function. All models start
from the same initial weights; the per-step losses of baseline A are checked against toynets'.

    python benchmarks/bench_train.py            # ~1 min on 2 cores
    python benchmarks/bench_train.py --quick    # ~20 s
    python benchmarks/bench_train.py --json out.json
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))

import keras
import numpy as np
import tensorflow as tf
from _common import print_checks, write_json

from toynets import data as D
from toynets import model as M
from toynets import population as P
from toynets import train as T
from toynets.config import ModelConfig, TrainConfig

LR = 1e-4
SEED = 0
TARGET_MS_PER_STEP = 0.1  # toynets, steady, one chunk
TARGET_FIT_RATIO = 100.0  # Keras fit(epochs=steps) ms/step over toynets steady ms/step


@dataclass
class Row:
    method: str
    steps: int
    seconds: float

    @property
    def ms_per_step(self) -> float:
        return 1e3 * self.seconds / self.steps


# ---------------------------------------------------------------------------------------------
# the problem


def halfplane() -> D.Dataset:
    """DIGEST §5: 800 x 15 training rows (stratified 80/20 split of 1000), labels int32."""
    data = D.make(SimpleNamespace(name="halfplane"), seed=SEED)
    assert data.x_train.shape == (800, 15), data.x_train.shape
    return data


def initial_weights(n_inputs: int) -> list[np.ndarray]:
    """The toynets logistic regression's initial [W (d, 1), b (1,)]."""
    m = M.build(ModelConfig(hidden=[]), n_inputs=n_inputs, head="logit", n_classes=2, seed=SEED)
    layer = M.dense_layers(m)[0]
    return [layer.kernel.numpy().copy(), layer.bias.numpy().copy()]


# ---------------------------------------------------------------------------------------------
# toynets


def bench_toynets(
    data: D.Dataset, w0: list[np.ndarray], steps: int, snapshot_every: int, label: str
) -> tuple[list[Row], np.ndarray]:
    """Rows (incl. compile, steady) and the first run's per-step losses."""
    cfg = TrainConfig(
        optimizer="adam",
        lr=LR,
        epochs=None,
        steps=steps,
        batch_size=None,
        snapshot_every=snapshot_every,
        progress=False,
    )
    P.compiled.cache_clear()  # a fresh trace: "incl. compile" is what a process's first job pays
    t0 = time.perf_counter()
    m = M.build(
        ModelConfig(hidden=[]), n_inputs=data.n_features, head="logit", n_classes=2, seed=SEED
    )
    layer = M.dense_layers(m)[0]
    layer.kernel.assign(w0[0])
    layer.bias.assign(w0[1])
    trainer = T.Trainer([T.Member(m, data, cfg, SEED, "logit")])
    first = trainer.fit()[0]  # what `T.fit` does: traces and XLA-compiles the chunk on first call
    cold = time.perf_counter() - t0
    steady = trainer.fit()[0].seconds  # same Trainer: the compiled chunk is reused
    return [
        Row(f"toynets {label} (steady)", steps, steady),
        Row(f"toynets {label} (incl. compile)", steps, cold),
    ], first.step_loss


# ---------------------------------------------------------------------------------------------
# Keras baselines


def keras_model(w0: list[np.ndarray], steps_per_execution: int = 1) -> keras.Model:
    model = keras.Sequential([keras.Input(shape=(w0[0].shape[0],)), keras.layers.Dense(1)])
    model.set_weights(w0)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LR),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    return model


def bench_fit_epochs(
    x: np.ndarray, y: np.ndarray, w0: list[np.ndarray], steps: int
) -> tuple[list[Row], np.ndarray]:
    """Baseline A: one full batch per epoch, `epochs=steps`."""
    t0 = time.perf_counter()
    model = keras_model(w0)
    hist = model.fit(x, y, batch_size=len(x), epochs=steps, verbose=0, shuffle=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=len(x), epochs=steps, verbose=0, shuffle=False)
    steady = time.perf_counter() - t0
    label = "keras fit(epochs=steps)"
    rows = [Row(f"{label} (steady)", steps, steady), Row(f"{label} (incl. compile)", steps, cold)]
    return rows, np.asarray(hist.history["loss"], np.float32)


def bench_fit_spe(
    x: np.ndarray, y: np.ndarray, w0: list[np.ndarray], steps: int, spe: int
) -> list[Row]:
    """Baseline B: `steps_per_execution=spe` over a dataset repeating the full batch."""
    t0 = time.perf_counter()
    model = keras_model(w0, steps_per_execution=spe)
    batches = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    steady = time.perf_counter() - t0
    label = f"keras fit(spe={spe}, tf.data)"
    return [Row(f"{label} (steady)", steps, steady), Row(f"{label} (incl. compile)", steps, cold)]


def warm_up(data: D.Dataset, x: np.ndarray, y: np.ndarray, w0: list[np.ndarray]) -> float:
    """Pay the once-per-process costs (TF runtime, XLA backend, Keras) before any timing, so
    "incl. compile" is the cost of one more model in a running process, whichever goes first."""
    t0 = time.perf_counter()
    bench_toynets(data, w0, 2, 2, "warm-up")
    keras_model(w0).fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# report


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def table(rows: list[Row], reference: Row) -> str:
    width = max(len(r.method) for r in rows)
    lines = [f"{'method':<{width}}  {'steps':>7}  {'seconds':>8}  {'ms/step':>9}  {'ratio':>8}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        ratio = r.ms_per_step / reference.ms_per_step
        lines.append(
            f"{r.method:<{width}}  {r.steps:>7d}  {r.seconds:>8.3f}  {r.ms_per_step:>9.4f}  "
            f"{ratio:>7.1f}x"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="toynets steps (default 30000)")
    p.add_argument(
        "--fit-steps",
        type=int,
        default=None,
        help="baseline A steps, fit(epochs=steps) (default 300)",
    )
    p.add_argument("--spe-steps", type=int, default=None, help="baseline B steps (default 30000)")
    p.add_argument("--steps-per-execution", type=int, default=1000, help="baseline B (1000)")
    p.add_argument("--snapshot-every", type=int, default=40, help="§5 recording schedule (40)")
    p.add_argument("--quick", action="store_true", help="~20 s: 3000 / 100 / 3000 steps")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the numbers")
    args = p.parse_args(argv)
    quick = {"steps": 3000, "fit_steps": 100, "spe_steps": 3000}
    full = {"steps": 30000, "fit_steps": 300, "spe_steps": 30000}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("steps", "fit_steps", "spe_steps", "steps_per_execution", "snapshot_every"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    # whole executions only: a partial last one would be a second trace
    args.steps_per_execution = min(args.steps_per_execution, args.spe_steps)
    spe = args.steps_per_execution
    args.spe_steps = -(-args.spe_steps // spe) * spe
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wall0 = time.perf_counter()
    T.seed_everything(SEED)  # as every toynets run; applies to the baselines too
    print(
        f"python {platform.python_version()}, tensorflow {tf.__version__}, "
        f"keras {keras.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}"
    )
    data = halfplane()
    x = data.x_train.astype(np.float32)
    y = data.y_train.astype(np.float32)[:, None]
    w0 = initial_weights(data.n_features)
    print(
        f"DIGEST §5 logistic regression: x {x.shape}, full batch, Adam lr {LR}; "
        f"toynets {args.steps} steps, fit(epochs) {args.fit_steps}, "
        f"fit(spe={args.steps_per_execution}) {args.spe_steps}"
    )

    warm = warm_up(data, x, y, w0)
    print(f"process warm-up (first TF, XLA and Keras use; not in the table): {warm:.2f} s\n")

    one_chunk, step_loss = bench_toynets(data, w0, args.steps, args.steps, "1 chunk")
    recorded, _ = bench_toynets(
        data, w0, args.steps, args.snapshot_every, f"snapshot_every={args.snapshot_every}"
    )
    fit_rows, fit_loss = bench_fit_epochs(x, y, w0, args.fit_steps)
    spe_rows = bench_fit_spe(x, y, w0, args.spe_steps, args.steps_per_execution)

    rows = [*one_chunk, *recorded, *fit_rows, *spe_rows]
    reference = one_chunk[0]
    print(table(rows, reference))
    print("ratio: ms/step over toynets 1 chunk (steady)")
    compile_s = one_chunk[1].seconds - one_chunk[0].seconds
    print(f"toynets compile + first-call overhead: {compile_s:.2f} s")

    # the same arithmetic: baseline A's per-step losses against toynets' (same init, same data)
    n = min(len(fit_loss), len(step_loss))
    gap = float(np.max(np.abs(fit_loss[:n] - step_loss[:n]))) if n else float("nan")
    print(f"max |loss_fit - loss_toynets| over the first {n} steps: {gap:.2e}")

    fit_ratio = fit_rows[0].ms_per_step / reference.ms_per_step
    checks = {
        f"toynets 1 chunk steady <= {TARGET_MS_PER_STEP} ms/step": (
            reference.ms_per_step <= TARGET_MS_PER_STEP
        ),
        f"toynets snapshot_every={args.snapshot_every} steady <= {TARGET_MS_PER_STEP} ms/step": (
            recorded[0].ms_per_step <= TARGET_MS_PER_STEP
        ),
        f"fit(epochs=steps) / toynets >= {TARGET_FIT_RATIO:g} (got {fit_ratio:.0f})": (
            fit_ratio >= TARGET_FIT_RATIO
        ),
    }
    print()
    print_checks(checks)

    peak = peak_rss_mb()
    total = time.perf_counter() - wall0
    print(f"\npeak RSS {peak:.0f} MiB; benchmark wall time {total:.1f} s")

    if args.json is not None:
        out = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "environment": {
                "python": platform.python_version(),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "numpy": np.__version__,
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            },
            "rows": [{**asdict(r), "ms_per_step": r.ms_per_step} for r in rows],
            "warm_up_seconds": warm,
            "toynets_compile_seconds": compile_s,
            "loss_max_abs_diff_fit_vs_toynets": gap,
            "checks": checks,
            "peak_rss_mib": peak,
            "wall_seconds": total,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
