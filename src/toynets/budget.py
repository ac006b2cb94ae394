"""How much memory a job will allocate, estimated from its config before anything runs.

`estimate(config)` adds up the arrays a job holds at its peak, each as a `Part` that names the
config keys that size it, so that an absurd value (`model.hidden=[100000000]`,
`train.steps=1000000000000`, `study.grid=100000`) is refused in a second with the estimate and
the key to change, instead of a segfault or "Unable to allocate 3.64 TiB" minutes later.

The counts follow the code that allocates (bytes per element in brackets):

- dataset: (n_train + n_test) points x d inputs, drawn in float64 with a few temporaries [8 x 4]
- weights: P = sum over layers of (fan_in + 1) x fan_out; the weights, their gradients, two
  optimizer slots and the compiled graph's copies [4 x 6]. A maxout layer (`model.maxout_k` =
  k) has k columns per unit: fan_out = k x units, its fan_in the units before it
- training activations: batch x (pre-activations + hidden units) for the forward and backward
  pass [4 x 2] (pre-activations = hidden units, except k x units for maxout), and the
  evaluations over the whole train or test set, (pre-activations + outputs) [4 x 2]
- step losses: one per step, recorded and in the compiled chunk [4 x 2]; the shuffles: one
  permutation of the training set per epoch that a compiled chunk of steps touches [4]
- snapshots: (steps / snapshot_every + 2) copies of the P weights [4]
- study maps: grid^2 points x (inputs + pre-activations + outputs) [8]
- node removal: the Monte Carlo masks and gradients (masks x units) [4 x 3], a chunk of masks
  over the test set (x the widest layer's pre-activations) [4 x 3], 2^N masks when enumerated
  (losses, accuracies, Shapley terms) [32], the hypercube paths (paths x (N + 1) x N) [4 + 1],
  and the small maps [8]
- flow: the region grid's points (region_grid^2) with their layer values, patterns and
  np.unique's copy [(inputs + 2 columns + outputs) x 8 + units x 3], the same for one
  snapshot's track grid at a time, and the neurons' pictures (thumbnail_grid^2 points) [8]
- weight evolution: the movie being written, its frames as palette images (frames x 700 x
  up to 600 pixels) [1]; each net of `study.compare` as a job's weights, optimizer state and
  snapshots [4]
- pruning: 2 x seeds x criteria x (fractions + 1) nets trained at once, each as a job's
  weights, optimizer state and snapshots, and its batch's activations; the decision maps and
  movie frames (criteria x 5 maps, and frames x (2 x criteria + 2) panels) [8]

It counts what a job adds to the ~0.9 GB that a process with TensorFlow and MLflow loaded takes
anyway (tests/test_budget.py holds it against the peak resident size a job really reaches); the
limit it is held against, `max_memory_gb`, is the user's to raise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

GIB = 1 << 30
OUTPUTS = 2  # output width used for the estimate (the classes of every 2-class dataset)
MC_CHUNK = 1000  # masks per TensorFlow call with gradients (analysis.node_removal.loss_and_grad)
EVAL_CHUNK = 4096  # masks per call without (loss_and_accuracy, enumerate_masks)


@dataclass(frozen=True)
class Part:
    """`nbytes` of memory for `what`, sized by the config `keys`."""

    what: str
    keys: tuple[str, ...]
    nbytes: float


def n_weights(widths: list[int], k: int = 1) -> int:
    """P = sum_l (w_l + 1) w_{l+1} over consecutive widths [inputs, *hidden, outputs]; with
    maxout's k pre-activations per unit, every hidden layer's w_{l+1} counts k times."""
    pairs = list(itertools.pairwise(widths))
    return sum((a + 1) * b * (k if i < len(pairs) - 1 else 1) for i, (a, b) in enumerate(pairs))


def group_size(model: Any) -> int:
    """k, the pre-activations per hidden unit: `model.maxout_k` for maxout, else 1."""
    return int(model.maxout_k) if model.activation == "maxout" else 1


def _sized_by_hidden(config: Any) -> tuple[str, ...]:
    """The keys that size the hidden layers: model.hidden, and model.maxout_k for maxout."""
    return ("model.hidden", "model.maxout_k") if group_size(config.model) > 1 else ("model.hidden",)


@dataclass(frozen=True)
class Schedule:
    """A job's training, as far as memory goes."""

    batch: int
    per_epoch: int
    steps: int
    snapshot_every: int
    snapshots: int  # weight copies recorded


def schedule(config: Any) -> Schedule:
    d, t = config.dataset, config.train
    batch = min(t.batch_size or d.n_train, d.n_train)
    per_epoch = math.ceil(d.n_train / batch)
    steps = t.steps if t.steps is not None else (t.epochs or 1) * per_epoch
    snapshot_every = t.snapshot_every or (per_epoch if t.steps is None else max(1, steps // 100))
    return Schedule(batch, per_epoch, steps, snapshot_every, steps // snapshot_every + 2)


def _training(config: Any) -> list[Part]:
    d, t, hidden = config.dataset, config.train, list(config.model.hidden)
    inputs = max(int(d.n_features), 2)
    k, hidden_keys = group_size(config.model), _sized_by_hidden(config)
    units = sum(hidden)
    weights = n_weights([inputs, *hidden, OUTPUTS], k)
    plan = schedule(config)
    batch, per_epoch, steps, snapshots = plan.batch, plan.per_epoch, plan.steps, plan.snapshots
    chunk = min(t.eval_every or plan.snapshot_every, plan.snapshot_every)  # steps per call
    epochs_held = math.ceil(chunk / per_epoch) + 1
    return [
        Part(
            "the dataset",
            ("dataset.n_train", "dataset.n_test"),
            (d.n_train + d.n_test) * inputs * 32,
        ),
        Part("the weights and optimizer state", hidden_keys, weights * 24),
        Part(
            "the training activations",
            (*hidden_keys, "train.batch_size"),
            batch * (units * k + units) * 8,
        ),
        Part(
            "the evaluations over the train and test sets",
            (*hidden_keys, "dataset.n_train", "dataset.n_test"),
            max(d.n_train, d.n_test) * (units * k + OUTPUTS) * 8,
        ),
        Part("the step losses", ("train.steps", "train.epochs"), steps * 8),
        Part(
            "the shuffles",
            ("train.eval_every", "train.snapshot_every", "dataset.n_train"),
            epochs_held * d.n_train * 4 if batch < d.n_train else 0,
        ),
        Part(
            "the weight snapshots",
            ("train.snapshot_every", "train.steps", *hidden_keys),
            snapshots * weights * 4,
        ),
    ]


def _maps(config: Any) -> list[Part]:
    s = config.study
    inputs = max(int(config.dataset.n_features), 2)
    columns = sum(config.model.hidden) * group_size(config.model)
    return [
        Part(
            "the input-plane maps",
            ("study.grid", *_sized_by_hidden(config)),
            s.grid**2 * (inputs + columns + OUTPUTS) * 8 * 2,
        )
    ]


def _node_removal(config: Any) -> list[Part]:
    s = config.study
    n = sum(config.model.hidden)
    width = max(config.model.hidden, default=0) * group_size(config.model)
    masks = s.n_masks * len(s.ps)
    enumerated = s.exact is True or (s.exact == "auto" and n <= s.exact_limit)
    small_maps = len(s.subsets) + s.n_random_subsets + n + 1
    parts = [
        Part(
            "the Monte Carlo masks and gradients",
            ("study.n_masks", "study.ps", "model.hidden"),
            masks * n * 12,
        ),
        Part(
            "a chunk of masks over the test set",
            ("study.test_size", *_sized_by_hidden(config)),
            max(MC_CHUNK * width, EVAL_CHUNK * OUTPUTS) * s.test_size * 12,
        ),
        Part(
            "the hypercube paths",
            ("study.n_paths", "model.hidden"),
            s.n_paths * (n + 1) * (n * 5 + 8),
        ),
        Part("the small maps", ("study.map_grid",), s.map_grid**2 * small_maps * (OUTPUTS + 2) * 8),
    ]
    if enumerated:
        parts.append(Part(f"all 2^{n} masks", ("study.exact", "study.exact_limit"), (1 << n) * 32))
    return parts


def _pruning(config: Any) -> list[Part]:
    """The pruning study's nets, trained as populations (every seed x criterion x fraction,
    pruned first and fine-tuned, each with its weights, optimizer state, snapshots and
    activations), and its decision maps and movie frames."""
    s, hidden = config.study, list(config.model.hidden)
    k, hidden_keys = group_size(config.model), _sized_by_hidden(config)
    weights = n_weights([max(int(config.dataset.n_features), 2), *hidden, OUTPUTS], k)
    plan = schedule(config)
    nets = 2 * s.seeds * len(s.criteria) * (len(s.fractions) + 1)
    per_net = weights * (24 + plan.snapshots * 4) + plan.batch * sum(hidden) * (k + 1) * 8
    panels = len(s.criteria) * 5 + s.movie_frames * (2 * len(s.criteria) + 2)
    return [
        Part(
            "the pruned nets trained as populations",
            ("study.seeds", "study.criteria", "study.fractions", *hidden_keys),
            nets * per_net,
        ),
        Part(
            "the decision maps and movie frames",
            ("study.grid", "study.movie_frames", "study.criteria"),
            panels * s.grid**2 * (OUTPUTS + 2) * 8,
        ),
    ]


def _flow(config: Any) -> list[Part]:
    """The flow study's grids: the region grid's points, layer values and patterns (and
    np.unique's sorted copy of them), one snapshot's track grid at a time, the thumbnails."""
    s = config.study
    inputs = max(int(config.dataset.n_features), 2)
    units = sum(config.model.hidden)
    columns = units * group_size(config.model)
    per_point = (inputs + 2 * columns + OUTPUTS) * 8 + units * 3
    return [
        Part(
            "the linear regions' grid",
            ("study.region_grid", *_sized_by_hidden(config)),
            s.region_grid**2 * per_point,
        ),
        Part(
            "the grid of the regions during training",
            ("study.track_grid", *_sized_by_hidden(config)),
            s.track_grid**2 * per_point if s.track_regions else 0,
        ),
        Part(
            "the neurons' pictures",
            ("study.thumbnail_grid", *_sized_by_hidden(config)),
            s.thumbnail_grid**2 * (inputs + 2 * columns + OUTPUTS) * 8,
        ),
    ]


SHOWN_WHEN_NULL = ("study.movie_frames",)  # keys whose null (no limit) can be what to change
MOVIE_FRAME_BYTES = 700 * 600  # the largest frame of a weight movie, a byte per pixel


def _weight_evolution(config: Any) -> list[Part]:
    """The weight-evolution study's movie frames (one movie is written at a time) and the
    nets it trains again with other optimizers."""
    s, plan = config.study, schedule(config)
    frames = plan.snapshots if s.movie_frames is None else min(plan.snapshots, s.movie_frames)
    widths = [int(config.dataset.n_features), *config.model.hidden, OUTPUTS]
    weights = n_weights(widths, group_size(config.model))
    return [
        Part(
            "the weight movie's frames",
            ("study.movie_frames", "train.snapshot_every", "train.steps"),
            frames * MOVIE_FRAME_BYTES,
        ),
        Part(
            "the nets trained by the compared optimizers",
            ("study.compare", "train.snapshot_every", *_sized_by_hidden(config)),
            len(s.compare) * weights * (24 + plan.snapshots * 4),
        ),
    ]


def estimate(config: Any) -> list[Part]:
    """The parts of a job's peak memory (a validated `toynets.config.Config`), largest first."""
    parts = _training(config)
    if config.study is not None:
        parts += _maps(config)
        if getattr(config.study, "name", None) == "node_removal":
            parts += _node_removal(config)
        if getattr(config.study, "name", None) == "pruning":
            parts += _pruning(config)
        if getattr(config.study, "name", None) == "flow":
            parts += _flow(config)
        if getattr(config.study, "name", None) == "weight_evolution":
            parts += _weight_evolution(config)
    return sorted(parts, key=lambda part: part.nbytes, reverse=True)


def gib(nbytes: float) -> str:
    """`74.5 GiB`, `3.64 TiB`, `0.0146 GiB`, `45,500,000 TiB`: 3 significant digits, whole
    numbers from 1000 on."""
    value, unit = (nbytes / (1024 * GIB), "TiB") if nbytes >= 1024 * GIB else (nbytes / GIB, "GiB")
    return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"


def over_budget(config: Any, limit_gb: float) -> str | None:
    """None when the job fits in `limit_gb` GiB; else one sentence with the estimate, its two
    largest parts with the keys that size them, and what to do."""
    parts = estimate(config)
    total = sum(part.nbytes for part in parts)
    if total <= limit_gb * GIB:
        return None
    largest = [
        f"{part.what} {gib(part.nbytes)} ({', '.join(_key_values(config, part.keys))})"
        for part in parts[:2]
        if part.nbytes >= 0.05 * total
    ]
    return (
        f"this job would need about {gib(total)} of memory, over max_memory_gb={limit_gb:g}: "
        f"{'; '.join(largest)}; lower those values, or raise max_memory_gb if the machine "
        "has the memory"
    )


def _key_values(config: Any, keys: tuple[str, ...]) -> list[str]:
    shown = []
    for key in keys:
        node: Any = config
        for part in key.split("."):
            node = getattr(node, part, None)
        if node is not None or key in SHOWN_WHEN_NULL:
            shown.append(f"{key}={'null' if node is None else node}")
    return shown
