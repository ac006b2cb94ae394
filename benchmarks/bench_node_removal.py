"""Benchmark: DIGEST §1 node removal, batched and exact, against one model call per mask.

The net is the §1 net (2 -> 20 ReLU -> 2-unit softmax on the circle), trained as the study
trains it (`toynets.train.fit`, seed 0, Adam 0.01, 20 epochs of 32); the masks are scored on
the study's fixed test set of 1000 points (`DatasetConfig(n_train=1, n_test=1000, seed=23)`).
Measured, side by side:

1. Monte Carlo: the study's 3000 masks (p = 0.25, 0.5, 0.75, 1000 each, seed 17), loss and
   d loss / d mask, with `nr.loss_and_grad` (1000 masks per call; first and second call)
   against one model call per mask: the Keras model (`toynets.model.logits` with a
   `tf.GradientTape` per mask, eager, in a Python loop), and `nr.loss_and_grad(chunk=1)` (one
   compiled call per mask). The per-mask baselines run on an evenly spread subset of the masks
   and are extrapolated to 3000 (the table says so); their losses and gradients are compared
   with the batched ones.
2. Exact enumeration of all 2^20 masks (`nr.enumerate_masks`, meet in the middle) in a fresh
   subprocess: first call (incl. XLA compile) and second call, the peak RSS increase during
   the call (VmHWM reset through /proc/self/clear_refs where Linux allows it, else ru_maxrss)
   and the peak RSS of the whole process (TensorFlow included); `nr.shapley` and `nr.banzhaf`
   on the 2^20 table; optionally other `chunk` sizes. Baselines on the first 2^16 masks,
   extrapolated to 2^20: the generic path (`nr.loss_and_accuracy`, masks times the linear
   form, 4096 masks per call; one compile plus a per-mask rate fitted from two sizes) and
   NumPy (z = m A + b, softmax CE, 4096 masks per chunk). Both are checked against the table.
3. The whole §1 experiment: `toynets +experiment=node_removal_circle` in a fresh temporary
   folder (embedded store; `MLFLOW_TRACKING_URI` unset), run twice (fresh store, then
   existing store); each run is read back with `toynets.runs.find` (FINISHED, train/seconds).

    python benchmarks/bench_node_removal.py            # ~2 min on 2 cores
    python benchmarks/bench_node_removal.py --quick    # ~1 min
    python benchmarks/bench_node_removal.py --json out.json
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )

import numpy as np
import tensorflow as tf
from _common import load_average, print_checks, toynets_command, write_json

from toynets import data as D
from toynets import model as M
from toynets import train as T
from toynets.analysis import node_removal as nr
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.net import Net

SEED = 0
TEST_SEED = 23
TEST_SIZE = 1000
MC_SEED = 17
PS = (0.25, 0.5, 0.75)
MASKS_PER_P = 1000
EXPERIMENT = "node_removal_circle"
GENERIC_CHUNK = 4096  # masks per call of the baselines (nr.loss_and_accuracy's default)

TARGET_MC_RATIO = 50.0  # one Keras call per mask over the batched Monte Carlo
TARGET_ENUM_SECONDS = 3.0  # all 2^20 masks on 1000 points
TARGET_ENUM_MB = 1000.0  # 1 GB = 10^9 bytes, in MB of 10^6 bytes
TARGET_EXPERIMENT_SECONDS = 60.0  # the whole §1 experiment, wall
MARKER = "BENCH_NODE_REMOVAL_JSON "


@dataclass
class Row:
    method: str
    size: str
    seconds: float


def load_text() -> str:
    return " ".join(f"{v:.2f}" for v in load_average())


def mb(kib: float) -> float:
    return kib * 1024 / 1e6


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else mb(peak)  # bytes vs KiB


def proc_status_mb(key: str) -> float | None:
    """VmRSS / VmHWM of this process in MB, None where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return mb(float(line.split()[1]))
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_child(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run a process to its end; its wall time, exit status, peak RSS (wait4) and output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = usage.ru_maxrss / 1e6 if sys.platform == "darwin" else mb(usage.ru_maxrss)
        return {
            "returncode": proc.returncode,
            "wall": wall,
            "peak_rss_mb": peak,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "stdout": out.read(),
            "stderr": err.read(),
        }


# ---------------------------------------------------------------------------------------------
# the net and the masks


def train_net() -> tuple:
    """The §1 net as the study trains it: (Keras model, Net, seconds)."""
    t0 = time.perf_counter()
    T.seed_everything(SEED)
    data = D.make(DatasetConfig(), SEED)
    model = M.build(ModelConfig(), data.n_features, "softmax", data.n_classes, SEED)
    T.fit(model, data, TrainConfig(progress=False), "softmax", SEED)
    return model, M.to_net(model), time.perf_counter() - t0


def fixed_test_set() -> tuple[np.ndarray, np.ndarray]:
    """The study's fixed test set: 1000 fresh points drawn with seed 23."""
    test = D.make(DatasetConfig(n_train=1, n_test=TEST_SIZE, seed=TEST_SEED), TEST_SEED)
    return test.x_test, test.y_test


def mc_masks(n: int) -> np.ndarray:
    """The study's 3000 Monte Carlo masks (1000 per p, in the order of `ps`)."""
    rng = np.random.default_rng(MC_SEED)
    return np.concatenate([nr.bernoulli_masks(MASKS_PER_P, n, p, rng) for p in PS])


def spread(total: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(total)."""
    return np.unique(np.linspace(0, total - 1, min(k, total)).round().astype(int))


# ---------------------------------------------------------------------------------------------
# 1. Monte Carlo


def keras_one_mask(model, xt: tf.Tensor, yt: tf.Tensor, mask: np.ndarray):
    """Loss and d loss / d mask for one mask: one Keras model call, eager, its own tape."""
    m = tf.constant(mask)
    with tf.GradientTape() as tape:
        tape.watch(m)
        loss = tf.reduce_mean(M.loss_per_example("softmax", yt, M.logits(model, xt, [m])))
    return float(loss.numpy()), tape.gradient(loss, m).numpy()


def bench_monte_carlo(model, net: Net, x, y, n_baseline: int) -> dict:
    masks = mc_masks(nr.n_units(net))
    total = len(masks)
    t0 = time.perf_counter()
    loss, grad = nr.loss_and_grad(net, x, y, masks)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss2, grad2 = nr.loss_and_grad(net, x, y, masks)
    warm = time.perf_counter() - t0
    repeat_gap = float(max(np.abs(loss2 - loss).max(), np.abs(grad2 - grad).max()))

    pick = spread(total, n_baseline)
    scale = total / len(pick)
    t0 = time.perf_counter()
    loss1, grad1 = nr.loss_and_grad(net, x, y, masks[pick], chunk=1)
    per_call = time.perf_counter() - t0

    xt, yt = tf.constant(x), tf.constant(y)
    keras_one_mask(model, xt, yt, masks[pick[0]])  # first eager call: not timed
    k_loss, k_grad = np.empty(len(pick)), np.empty((len(pick), masks.shape[1]))
    t0 = time.perf_counter()
    for row, i in enumerate(pick):
        k_loss[row], k_grad[row] = keras_one_mask(model, xt, yt, masks[i])
    keras_s = time.perf_counter() - t0

    n = len(pick)
    label = f"({n} measured, x{scale:.3g})" if n < total else ""
    rows = [
        Row("nr.loss_and_grad, 1000 masks per call (first call)", str(total), cold),
        Row("nr.loss_and_grad, 1000 masks per call (second call)", str(total), warm),
        Row(f"nr.loss_and_grad chunk=1: a compiled call per mask {label}", str(total),
            per_call * scale),
        Row(f"Keras model per mask, eager + GradientTape {label}", str(total), keras_s * scale),
    ]  # fmt: skip
    return {
        "rows": rows,
        "masks": total,
        "baseline_masks": n,
        "ratio_keras_cold": keras_s * scale / cold,
        "ratio_keras_warm": keras_s * scale / warm,
        "ratio_chunk1_cold": per_call * scale / cold,
        "keras_ms_per_mask": 1e3 * keras_s / n,
        "chunk1_ms_per_mask": 1e3 * per_call / n,
        "max_abs_diff_loss_keras": float(np.abs(k_loss - loss[pick]).max()),
        "max_abs_diff_grad_keras": float(np.abs(k_grad - grad[pick]).max()),
        "max_abs_diff_loss_chunk1": float(np.abs(loss1 - loss[pick]).max()),
        "max_abs_diff_grad_chunk1": float(np.abs(grad1 - grad[pick]).max()),
        "max_abs_diff_second_call": repeat_gap,
        "max_abs_grad": float(np.abs(grad).max()),
    }


# ---------------------------------------------------------------------------------------------
# 2. exact enumeration (in a child process: its own peak RSS)


def numpy_loss_accuracy(net: Net, x, y, masks: np.ndarray, chunk: int):
    """Baseline: NumPy over chunks, z = m A + b (A [N, n*k] = h_i(x_j) W1[i, k]), softmax CE."""
    hidden, out = net.layers
    h = np.maximum(x.astype(np.float32) @ hidden.W + hidden.b, 0).astype(np.float32)
    n_points, k = h.shape[0], out.W.shape[1]
    A = (h.T[:, :, None] * out.W[:, None, :]).reshape(h.shape[1], -1).astype(np.float32)
    loss, acc = np.empty(len(masks), np.float32), np.empty(len(masks), np.float32)
    for s in range(0, len(masks), chunk):
        z = (masks[s : s + chunk] @ A).reshape(-1, n_points, k) + out.b.astype(np.float32)
        zmax = z.max(2, keepdims=True)
        lse = zmax[..., 0] + np.log(np.exp(z - zmax).sum(2))
        zy = np.take_along_axis(z, np.broadcast_to(y[None, :, None], (len(z), n_points, 1)), 2)
        loss[s : s + chunk] = (lse - zy[..., 0]).mean(1)
        acc[s : s + chunk] = (z.argmax(2) == y[None]).mean(1)
    return loss, acc


def timed_enumeration(net: Net, x, y, chunk: int) -> dict:
    rss0 = proc_status_mb("VmRSS")
    maxrss0 = peak_rss_mb()
    reset = reset_peak_rss()
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    table = nr.enumerate_masks(net, x, y, chunk=chunk)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    hwm = proc_status_mb("VmHWM")
    if reset and rss0 is not None and hwm is not None:
        increase, how = hwm - rss0, "VmHWM after a reset - VmRSS before"
    else:  # a lower bound when an earlier peak was higher
        increase, how = peak_rss_mb() - maxrss0, "ru_maxrss after - before"
    return {
        "table": table,
        "seconds": wall,
        "cpu_per_wall": cpu / wall,
        "rss_before_mb": rss0,
        "increase_mb": increase,
        "how": how,
    }


def calls_of(n: int, chunk: int) -> tuple[int, int]:
    """(calls, masks per call) of `enumerate_masks` with one hidden layer (its block sizes)."""
    a = n // 2
    rows = max(1, chunk >> a)
    return -(-(1 << (n - a)) // rows), rows << a


def generic_seconds(net: Net, x, y, n: int, k: int) -> tuple[float, float, np.ndarray, float]:
    """`nr.loss_and_accuracy` (one compile per call, then `GENERIC_CHUNK` masks per call) on
    GENERIC_CHUNK masks and on k masks; 2^n extrapolated as compile + per-mask rate.
    Returns (seconds for k, extrapolated seconds for 2^n, losses and accuracies, first)."""
    t0 = time.perf_counter()
    nr.loss_and_accuracy(net, x, y, nr.masks_of(np.arange(GENERIC_CHUNK), n))
    small = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = nr.loss_and_accuracy(net, x, y, nr.masks_of(np.arange(k), n))
    big = time.perf_counter() - t0
    rate = max(big - small, 0.0) / (k - GENERIC_CHUNK)
    return big, small + rate * ((1 << n) - GENERIC_CHUNK), np.stack(out), small


def child_enumeration(folder: Path) -> int:
    """The child process: everything of part 2, as JSON on stdout."""
    cfg = json.loads((folder / "config.json").read_text())
    t0 = time.perf_counter()
    net = Net.load(folder / "net.npz")
    xy = np.load(folder / "test.npz")
    x, y = xy["x"], xy["y"]
    n = nr.n_units(net)
    # the study's first call (full loss): pays the once-per-process TF and XLA start-up
    nr.loss_and_accuracy(net, x, y, np.ones((1, n), np.float32))
    startup = time.perf_counter() - t0
    hwm_start = proc_status_mb("VmHWM")
    default_chunk = inspect.signature(nr.enumerate_masks).parameters["chunk"].default
    first = timed_enumeration(net, x, y, default_chunk)
    second = timed_enumeration(net, x, y, default_chunk)
    table = first["table"]
    same = bool(
        np.array_equal(table.loss, second["table"].loss)
        and np.array_equal(table.accuracy, second["table"].accuracy)
    )
    process_peak = max(
        v for v in (hwm_start, proc_status_mb("VmHWM"), peak_rss_mb()) if v is not None
    )
    if first["rss_before_mb"] is not None:
        process_peak = max(process_peak, first["rss_before_mb"] + first["increase_mb"])

    t0 = time.perf_counter()
    nr.shapley(table.loss)
    shapley_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nr.banzhaf(table.loss)
    banzhaf_s = time.perf_counter() - t0

    sweep = []
    for chunk in cfg["chunks"]:
        t0 = time.perf_counter()
        nr.enumerate_masks(net, x, y, chunk=chunk)
        calls, per_call = calls_of(n, chunk)
        sweep.append([chunk, calls, per_call, time.perf_counter() - t0])

    k = cfg["baseline_masks"]
    generic_k, generic_full, generic_out, generic_small = generic_seconds(net, x, y, n, k)
    t0 = time.perf_counter()
    np_loss, np_acc = numpy_loss_accuracy(net, x, y, nr.masks_of(np.arange(k), n), GENERIC_CHUNK)
    numpy_k = time.perf_counter() - t0

    calls, per_call = calls_of(n, default_chunk)
    tol = 0.5 / len(x)  # accuracies closer than half a point apart differ by rounding only
    result = {
        "units": n,
        "masks": 1 << n,
        "points": len(x),
        "startup_seconds": startup,
        "default_chunk": default_chunk,
        "calls": calls,
        "masks_per_call": per_call,
        "first_seconds": first["seconds"],
        "second_seconds": second["seconds"],
        "first_cpu_per_wall": first["cpu_per_wall"],
        "second_cpu_per_wall": second["cpu_per_wall"],
        "ms_per_call_second": 1e3 * second["seconds"] / calls,
        "rss_before_mb": first["rss_before_mb"],
        "increase_first_mb": first["increase_mb"],
        "increase_second_mb": second["increase_mb"],
        "increase_how": first["how"],
        "process_peak_mb": process_peak,
        "same_table_twice": same,
        "shapley_seconds": shapley_s,
        "banzhaf_seconds": banzhaf_s,
        "chunk_sweep": sweep,
        "baseline_masks": k,
        "generic_seconds": generic_k,
        "generic_small_seconds": generic_small,
        "generic_extrapolated": generic_full,
        "numpy_seconds": numpy_k,
        "numpy_extrapolated": numpy_k * (1 << n) / k,
        "max_abs_diff_loss_generic": float(np.abs(generic_out[0] - table.loss[:k]).max()),
        "accuracy_mismatches_generic": int(
            np.sum(np.abs(generic_out[1] - table.accuracy[:k]) > tol)
        ),
        "max_abs_diff_accuracy_generic": float(np.abs(generic_out[1] - table.accuracy[:k]).max()),
        "max_abs_diff_loss_numpy": float(np.abs(np_loss - table.loss[:k]).max()),
        "accuracy_mismatches_numpy": int(np.sum(np.abs(np_acc - table.accuracy[:k]) > tol)),
        "max_abs_diff_accuracy_numpy": float(np.abs(np_acc - table.accuracy[:k]).max()),
        "load_average_after": list(load_average()),
    }
    print(MARKER + json.dumps(result), flush=True)
    return 0


def bench_enumeration(net: Net, x, y, work: Path, chunks: list[int], k: int) -> dict:
    folder = work / "enumeration"
    folder.mkdir()
    net.save(folder / "net.npz")
    np.savez(folder / "test.npz", x=x, y=y)
    (folder / "config.json").write_text(json.dumps({"chunks": chunks, "baseline_masks": k}))
    done = run_child(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(folder)],
        folder,
        dict(os.environ),
    )
    lines = [s for s in done["stdout"].splitlines() if s.startswith(MARKER)]
    if done["returncode"] != 0 or not lines:
        raise RuntimeError(f"the enumeration child failed:\n{done['stderr'][-3000:]}")
    out = json.loads(lines[-1][len(MARKER) :])
    out["child_wall"] = done["wall"]
    out["child_peak_rss_mb"] = done["peak_rss_mb"]
    total, e = out["masks"], out["units"]
    scale = total // out["baseline_masks"]
    measured = f"2^{out['baseline_masks'].bit_length() - 1}"
    chunk = out["default_chunk"]
    out["rows"] = [
        Row(f"nr.enumerate_masks chunk=2^{chunk.bit_length() - 1} (first call, incl. compile)",
            f"2^{e}", out["first_seconds"]),
        Row(f"nr.enumerate_masks chunk=2^{chunk.bit_length() - 1} (second call)", f"2^{e}",
            out["second_seconds"]),
        *(
            Row(f"nr.enumerate_masks chunk=2^{c.bit_length() - 1} (one call, incl. compile)",
                f"2^{e}", s)
            for c, _, _, s in out["chunk_sweep"]
        ),
        Row(f"generic nr.loss_and_accuracy, {GENERIC_CHUNK}/call ({measured} measured, fit)",
            f"2^{e}", out["generic_extrapolated"]),
        Row(f"NumPy z = m A + b, softmax CE, {GENERIC_CHUNK}/chunk ({measured} measured, "
            f"x{scale})", f"2^{e}", out["numpy_extrapolated"]),
    ]  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# 3. the whole §1 experiment


def run_experiment(folder: Path, label: str) -> dict:
    from toynets import runs, tracking

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    load = load_text()
    print(f"running the §1 experiment ({label}); load average {load}", flush=True)
    done = run_child([*toynets_command(), f"+experiment={EXPERIMENT}"], folder, env)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    out = {
        "store": label,
        "wall": done["wall"],
        "returncode": done["returncode"],
        "peak_rss_mb": done["peak_rss_mb"],
        "cpu_seconds": done["cpu_seconds"],
        "load_average_before": load,
        "status": None,
        "train_seconds": float("nan"),
        "run_seconds": float("nan"),
        "runs_in_store": 0,
    }
    if done["returncode"] != 0:
        print(f"warning: the experiment exited with {done['returncode']}:\n"
              f"{done['stderr'][-2000:]}")  # fmt: skip
    try:
        found = runs.find(study="node_removal", uri=uri)
    except runs.RunNotFound as e:
        print(f"warning: {e}")
        return out
    if len(found):
        newest = found.iloc[0]
        info = tracking.client_for(uri).get_run(newest["run_id"]).info
        out.update(
            status=newest["status"],
            train_seconds=float(newest.get("metrics.train/seconds", float("nan"))),
            run_seconds=((info.end_time or info.start_time) - info.start_time) / 1e3,
            runs_in_store=len(found),
            run_id=newest["run_id"],
        )
    return out


# ---------------------------------------------------------------------------------------------
# report


def table(rows: list[Row], reference: Row) -> str:
    width = max(len(r.method) for r in rows)
    lines = [f"{'method':<{width}}  {'size':>5}  {'seconds':>8}  {'ratio':>8}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append(
            f"{r.method:<{width}}  {r.size:>5}  {r.seconds:>8.3f}  "
            f"{r.seconds / reference.seconds:>7.1f}x"
        )
    return "\n".join(lines)


def experiment_table(exps: list[dict]) -> str:
    head = (
        f"{'run':>3}  {'store':<8}  {'wall s':>7}  {'run s':>6}  {'train/seconds':>13}  "
        f"{'status':<8}  {'peak RSS MB':>11}  {'load before':<15}"
    )
    lines = [head, "-" * len(head)]
    for i, e in enumerate(exps, 1):
        lines.append(
            f"{i:>3}  {e['store']:<8}  {e['wall']:>7.2f}  {e['run_seconds']:>6.2f}  "
            f"{e['train_seconds']:>13.3f}  {e['status']!s:<8}  {e['peak_rss_mb']:>11.0f}  "
            f"{e['load_average_before']:<15}"
        )
    return "\n".join(lines)


def wait_for_load(limit: float, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while load_average()[0] >= limit and time.monotonic() < deadline:
        print(f"load average {load_text()} >= {limit:g}: waiting 30 s", flush=True)
        time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--baseline-masks",
        type=int,
        default=None,
        help="Monte Carlo masks run one call at a time, extrapolated to 3000 (1000; quick 300)",
    )
    p.add_argument(
        "--enum-baseline-masks",
        type=int,
        default=None,
        help="masks of the enumeration baselines, a power of 2 (2^16; quick 2^14)",
    )
    p.add_argument(
        "--chunks",
        type=str,
        default=None,
        help="more enumerate_masks chunk sizes, comma separated (4096,65536; quick none; "
        "'' for none)",
    )
    p.add_argument("--runs", type=int, default=None, help="experiment runs (2; quick 1)")
    p.add_argument(
        "--wait-load",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the 1-minute load average to drop below --max-load",
    )
    p.add_argument("--max-load", type=float, default=1.0, help="see --wait-load (1.0)")
    p.add_argument("--quick", action="store_true", help="~1 min: smaller baselines, 1 run")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the numbers")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = {"baseline_masks": 300, "enum_baseline_masks": 1 << 14, "chunks": "", "runs": 1}
    full = {"baseline_masks": 1000, "enum_baseline_masks": 1 << 16, "chunks": "4096,65536",
            "runs": 2}  # fmt: skip
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.chunks = [int(c) for c in args.chunks.split(",") if c.strip()]
    k = args.enum_baseline_masks
    if k <= GENERIC_CHUNK or k & (k - 1):
        p.error(f"--enum-baseline-masks must be a power of 2 above {GENERIC_CHUNK}")
    if args.baseline_masks < 1 or args.runs < 0 or any(c < 1 for c in args.chunks):
        p.error("--baseline-masks, --chunks must be >= 1 and --runs >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_enumeration(args.child)
    if args.wait_load > 0:
        wait_for_load(args.max_load, args.wait_load)
    wall0 = time.perf_counter()
    load_start = load_average()
    print(
        f"python {platform.python_version()}, tensorflow {tf.__version__}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}; "
        f"load average {load_text()} at the start"
    )
    model, net, train_s = train_net()
    x, y = fixed_test_set()
    n = nr.n_units(net)
    print(
        f"DIGEST §1 net: 2 -> {n} ReLU -> 2 softmax, trained in {train_s:.2f} s (incl. first "
        f"TF use); fixed test set {x.shape[0]} points (seed {TEST_SEED})\n"
    )
    work = Path(tempfile.mkdtemp(prefix="bench_node_removal-"))
    try:
        print(f"1. Monte Carlo ({len(PS) * MASKS_PER_P} masks); load average {load_text()}")
        mc = bench_monte_carlo(model, net, x, y, args.baseline_masks)
        print(table(mc["rows"], mc["rows"][0]))
        print("ratio: seconds over nr.loss_and_grad (first call, incl. tracing)")
        print(
            f"per mask: Keras eager {mc['keras_ms_per_mask']:.2f} ms, compiled chunk=1 "
            f"{mc['chunk1_ms_per_mask']:.2f} ms; max |diff| vs batched on the "
            f"{mc['baseline_masks']} common masks: Keras loss {mc['max_abs_diff_loss_keras']:.1e}"
            f", grad {mc['max_abs_diff_grad_keras']:.1e}; chunk=1 loss "
            f"{mc['max_abs_diff_loss_chunk1']:.1e}, grad {mc['max_abs_diff_grad_chunk1']:.1e} "
            f"(max |grad| {mc['max_abs_grad']:.2f})\n"
        )

        print(f"2. exact enumeration (2^{n} masks x {x.shape[0]} points, fresh subprocess); "
              f"load average {load_text()}")  # fmt: skip
        en = bench_enumeration(net, x, y, work, args.chunks, args.enum_baseline_masks)
        print(table(en["rows"], en["rows"][0]))
        print("ratio: seconds over nr.enumerate_masks (first call)")
        compile_s = en["first_seconds"] - en["second_seconds"]
        print(
            f"default chunk 2^{en['default_chunk'].bit_length() - 1}: {en['calls']} calls of "
            f"{en['masks_per_call']} masks, {en['ms_per_call_second']:.1f} ms a call (second "
            f"call); CPU/wall {en['first_cpu_per_wall']:.2f} / {en['second_cpu_per_wall']:.2f}"
            f"; first - second call (compile, tracing) {compile_s:.2f} s; before it, the child's "
            f"first TF call (the study's full loss) {en['startup_seconds']:.2f} s"
        )
        print(
            f"memory: RSS before the call {en['rss_before_mb']:.0f} MB; increase during the "
            f"first call {en['increase_first_mb']:.0f} MB, second {en['increase_second_mb']:.0f}"
            f" MB ({en['increase_how']}); peak RSS of the enumerating process (TensorFlow "
            f"included) {en['process_peak_mb']:.0f} MB; of the whole child, with the baselines, "
            f"{en['child_peak_rss_mb']:.0f} MB"
        )
        print(
            f"on the 2^{n} loss table: nr.shapley {en['shapley_seconds']:.2f} s, nr.banzhaf "
            f"{en['banzhaf_seconds']:.2f} s; the two calls give the same table: "
            f"{en['same_table_twice']}"
        )
        agree = {
            name: f"loss max |diff| {en[f'max_abs_diff_loss_{key}']:.1e}, accuracy "
            f"{en[f'accuracy_mismatches_{key}']} differ by a point or more (max "
            f"{en[f'max_abs_diff_accuracy_{key}']:.1e})"
            for name, key in (("generic", "generic"), ("NumPy", "numpy"))
        }
        print(
            f"baselines vs the table on the first {en['baseline_masks']} masks: generic "
            f"{agree['generic']}; NumPy {agree['NumPy']}; generic measured "
            f"{en['generic_seconds']:.2f} s ({GENERIC_CHUNK} masks alone, incl. compile: "
            f"{en['generic_small_seconds']:.2f} s), NumPy measured {en['numpy_seconds']:.2f} s\n"
        )

        exps = []
        if args.runs:
            print(f"3. the whole §1 experiment: toynets +experiment={EXPERIMENT}")
            folder = work / "experiment"
            folder.mkdir()
            for i in range(args.runs):
                exps.append(run_experiment(folder, "fresh" if i == 0 else "existing"))
            print(experiment_table(exps))
            print("wall s: the toynets process; run s: the MLflow run (start -> end)\n")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    mc_ratio = mc["ratio_keras_cold"]
    enum_mb = max(en["increase_first_mb"], en["increase_second_mb"])
    checks = {
        f"Monte Carlo: Keras per mask / batched (first call) >= {TARGET_MC_RATIO:g}x "
        f"(got {mc_ratio:.0f}x; second call {mc['ratio_keras_warm']:.0f}x)": (
            mc_ratio >= TARGET_MC_RATIO
        ),
        f"exact 2^{n} on {x.shape[0]} points <= {TARGET_ENUM_SECONDS:g} s, first call "
        f"(got {en['first_seconds']:.2f} s; second call {en['second_seconds']:.2f} s)": (
            en["first_seconds"] <= TARGET_ENUM_SECONDS
        ),
        f"exact 2^{n}: memory increase during the call <= 1 GB (got {enum_mb:.0f} MB)": (
            enum_mb <= TARGET_ENUM_MB
        ),
        f"exact 2^{n}: peak RSS of the process incl. TensorFlow <= 1 GB "
        f"(got {en['process_peak_mb']:.0f} MB)": en["process_peak_mb"] <= TARGET_ENUM_MB,
        f"exact 2^{n}: baselines agree with the table (loss max |diff| <= 1e-4)": (
            max(en["max_abs_diff_loss_generic"], en["max_abs_diff_loss_numpy"]) <= 1e-4
        ),
        "Monte Carlo: per-mask baselines agree with the batched losses, gradients (<= 1e-4)": (
            max(mc[k] for k in mc if k.startswith("max_abs_diff_")) <= 1e-4
        ),
    }
    for e in exps:
        ok = e["wall"] <= TARGET_EXPERIMENT_SECONDS and e["status"] == "FINISHED"
        checks[
            f"§1 experiment, {e['store']} store: FINISHED, <= {TARGET_EXPERIMENT_SECONDS:g} s "
            f"wall (got {e['status']}, {e['wall']:.1f} s)"
        ] = ok
    print_checks(checks)

    peak = peak_rss_mb()
    total = time.perf_counter() - wall0
    print(
        f"\npeak RSS of this process {peak:.0f} MB; load average "
        f"{' '.join(f'{v:.2f}' for v in load_start)} at the start, {load_text()} at the end; "
        f"benchmark wall time {total:.1f} s"
    )

    if args.json is not None:
        strip = {"rows"}
        out = {
            "config": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k != "child"
            },
            "environment": {
                "python": platform.python_version(),
                "tensorflow": tf.__version__,
                "numpy": np.__version__,
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
            },
            "train_seconds": train_s,
            "monte_carlo": {
                **{k: v for k, v in mc.items() if k not in strip},
                "rows": [asdict(r) for r in mc["rows"]],
            },
            "enumeration": {
                **{k: v for k, v in en.items() if k not in strip},
                "rows": [asdict(r) for r in en["rows"]],
            },
            "experiment": exps,
            "checks": checks,
            "peak_rss_mb": peak,
            "load_average_start": list(load_start),
            "load_average_end": list(load_average()),
            "wall_seconds": total,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
