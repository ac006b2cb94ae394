"""Structured configs: one dataclass per Hydra config group, validated before any run exists.

Hydra checks types and unknown keys against these dataclasses when it composes the config
(they are registered in its ConfigStore by `register_configs`). Ranges and names are checked
by `validate`, which turns the composed config into dataclass objects and collects every
problem into one `ConfigError` that names the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Union

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from toynets.errors import ConfigError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "maxout")
HEADS = ("auto", "softmax", "logit", "linear")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "uniform",
    "normal",
    "zeros",
)
OPTIMIZERS = ("adam", "sgd", "rmsprop", "random_walk")


@dataclass
class DatasetConfig:
    name: str = "circle"
    n_train: int = 1000
    n_test: int = 1000
    seed: int | None = None  # None: the top-level `seed`
    noise: float = 0.0
    n_features: int = 2
    faithful: bool = False  # circle only: the rule as written in the source (r^2 > sqrt(2/pi))


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [20])
    activation: str = "relu"
    maxout_k: int = 2  # maxout only: pre-activations per unit (each unit outputs their maximum)
    head: str = "auto"  # auto: softmax for classification, linear for regression
    initializer: str = "glorot_uniform"
    init_scale: float = 1.0  # multiplies every initial kernel
    seed: int | None = None


@dataclass
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 0.01
    epochs: int | None = 20
    steps: int | None = None  # when set, replaces epochs
    batch_size: int | None = 32  # None: full batch
    seed: int | None = None
    snapshot_every: int | None = None  # None: once per epoch (or 1/100 of the steps)
    eval_every: int | None = None  # None: as snapshot_every
    progress: bool = True


@dataclass
class StudyConfig:
    name: str = "train"
    grid: int = 200  # points per side of the input-plane maps
    box: list[float] | None = None  # [x1_min, x1_max, x2_min, x2_max]; None: the data box, zoomed
    box_zoom: float = 1.0  # the data box scaled about its centre (2: §1's [-2, 2]^2 heatmaps)


@dataclass
class TrackingConfig:
    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db
    experiment: str | None = None  # None: the study name
    run_name: str | None = None  # None: "<study> <dataset> <model> s<seed>"
    log_model: bool = True
    stream_every: float | None = 2.0  # seconds between writes of the curves while training;
    # null: only when training ends (toynets.stream)


@dataclass
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    study: Any = None  # the chosen study's group; `validate` makes it its STUDY_SCHEMAS dataclass
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    seed: int = 0
    objective: str = "final/test_loss"  # what a job returns to a sweeper, and a sweep's "best"
    max_memory_gb: float = 8.0  # refuse a job whose estimated memory (toynets.budget) is larger


@dataclass
class NodeRemovalConfig(StudyConfig):
    """DIGEST §1: the net under node removal (src/toynets/studies/node_removal.py)."""

    name: str = "node_removal"
    ps: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])  # P(unit on)
    n_masks: int = 1000  # Monte Carlo masks per p
    mc_seed: int = 17
    test_size: int = 1000  # the one fixed test set every mask is scored on
    test_seed: int | None = 23  # None: the dataset's own test set
    kernel_width: float = 0.03  # Gaussian smoothing of the PDFs
    n_paths: int = 1000  # hypercube paths
    path_seed: int = 0
    # Enumerate all 2^N masks (Shapley, Banzhaf, exact distributions): true, false, or auto
    # (when N <= exact_limit, Monte Carlo alone otherwise).
    exact: Union[bool, str] = "auto"  # noqa: UP007  (OmegaConf reads typing.Union, not |)
    exact_limit: int = 24  # largest N enumerated
    subsets: list[list[int]] = field(default_factory=list)  # units to remove, one map each
    n_random_subsets: int = 6  # random subsets (half the units) drawn as maps too
    map_grid: int = 80  # points per side of each small decision map


@dataclass
class RelevanceConfig(StudyConfig):
    """DIGEST §2: relevance propagation and blame-the-bias (src/toynets/studies/relevance.py)."""

    name: str = "relevance"
    methods: list[str] | None = None  # None: every method defined for the model's activation
    epsilon: float = 0.01  # the blip of lrp_epsilon and lrp_conserving
    epsilon_sweep: list[float] = field(default_factory=lambda: [0.1, 0.01, 1e-3, 1e-4, 0.0])
    alpha: float = 2.0  # lrp_alphabeta's alpha (beta = alpha - 1)
    max_rule: str = "gradient"  # maxout in the LRP family: gradient | radial
    deeplift_max: str = "softmax_limit"  # maxout in deeplift: softmax_limit | relu_chain
    baseline: Any = "zeros"  # zeros | mean (of the training inputs) | [x1, x2, ...]
    target: Any = "predicted"  # the output explained: predicted (class) | a class index
    n_explain: int = 1000  # test points explained (relevance.npz, tables, perturbation)
    sample: int | None = None  # the explained point broken down; None: the most bias-carried
    bias_dominance: float = 0.9  # "mostly bias": the biases carry over this fraction of it
    n_random_orders: int = 20  # random removal orders averaged for the reference curve
    order_seed: int = 0


PRUNING_CRITERIA = ("random", "activation_std", "mean_abs_activation", "weight_norm", "shapley")


@dataclass
class PruningConfig(StudyConfig):
    """DIGEST §3: train first vs prune first (src/toynets/studies/pruning.py)."""

    name: str = "pruning"
    grid: int = 100  # points per side of each decision map (the grid, the movies)
    criteria: list[str] = field(default_factory=lambda: list(PRUNING_CRITERIA))
    fraction: Any = 0.5  # the fraction removed in the maps, movies and kernels: one for every
    # hidden layer, or a list with one per hidden layer
    fractions: list[float] = field(  # the sweep of the fraction, applied to every layer of `layers`
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    )
    layers: list[int] | None = None  # hidden layers the sweep prunes; None: all
    compensate: bool = True  # fold the removed units' mean activation into the next bias
    seeds: int = 3  # nets per condition: the job's seed, then seed + 1, ...
    finetune_steps: int | None = None  # None: a fifth of the training steps
    shapley_permutations: int = 64  # random orders per layer wider than shapley_exact_limit
    shapley_exact_limit: int = 12  # layers up to this many units: exact, all 2^n coalitions
    shapley_points: int = 500  # training points scoring the Shapley coalitions
    order_seed: int = 0  # the random criterion's orders (and the Shapley permutations)
    movie_frames: int = 30  # at most this many frames per movie (evenly spaced snapshots)


FLOW_PALETTES = ("viridis", "rainbow", "cool")  # DIGEST §4's palettes (matplotlib's names)
FLOW_COLOUR_NORMS = ("layer", "global", "symmetric")  # toynets.analysis.flow.COLOUR_NORMS


def _section4_zones() -> list[Any]:
    return [["centre", 0.0, 0.0], ["NE", 1.0, 1.0], ["NW", -1.0, 1.0], ["N", 0.0, 2.0]]


def point_names(points: list[Any]) -> list[tuple[str, float, float]]:
    """`study.points` of the flow study as (name, x1, x2): an entry is [name, x1, x2] or
    [x1, x2] (named p<its index>)."""
    out = []
    for i, entry in enumerate(points):
        entry = list(entry)
        name = str(entry.pop(0)) if len(entry) == 3 else f"p{i}"
        out.append((name, float(entry[0]), float(entry[1])))
    return out


@dataclass
class FlowConfig(StudyConfig):
    """DIGEST §4: the flow through a small net and its linear regions (studies/flow.py)."""

    name: str = "flow"
    points: list[Any] = field(default_factory=_section4_zones)  # [name, x1, x2] or [x1, x2]
    samples: list[int] = field(default_factory=list)  # training points explained too, by index
    palette: str = "viridis"  # the neurons' colours: viridis | rainbow | cool
    colour_norm: str = "layer"  # layer | global | symmetric (around 0), over the training data
    region_grid: int = 400  # points per side of the grid that finds the linear regions
    track_regions: bool = True  # count the regions at every weight snapshot of the training
    track_grid: int = 150  # points per side of that count
    thumbnail_grid: int = 40  # points per side of each neuron's picture of the input plane
    explorer_grid: int = 200  # points per side of flow.html's map and regions


@dataclass
class WeightEvolutionConfig(StudyConfig):
    """DIGEST §5: the weights over training (studies/weight_evolution.py)."""

    name: str = "weight_evolution"
    chosen: list[int] | None = None  # inputs whose weight into `unit` is followed against the
    # mean of the others'; null: x1 and x2 (§5), or x1 alone on a net of two inputs
    unit: int = 0  # the first-layer unit (a logistic regression's logit)
    movie_frames: int | None = 1000  # frames per movie at most, evenly spaced; null: all
    frame_ms: int = 40  # how long each frame shows
    movie_limit: float | None = None  # colour range [-limit, limit]; null: max |w| of the movie
    slider_frames: int = 50  # frames also logged as MLflow images with their steps (0: none)
    compare: list[Any] = field(default_factory=list)  # [[optimizer, lr], ...]: the job's
    # initial net trained again on the same data by each, for the cost per step and per second


STUDY_SCHEMAS: dict[str, type] = {
    "train": StudyConfig,
    "node_removal": NodeRemovalConfig,
    "relevance": RelevanceConfig,
    "pruning": PruningConfig,
    "flow": FlowConfig,
    "weight_evolution": WeightEvolutionConfig,
}


def register_configs() -> None:
    """Register the root schema with Hydra's ConfigStore (first in conf/config.yaml's defaults).

    Its typed fields check every group file merged into them (dataset, model, train, tracking)
    as Hydra composes; a study's node is checked against its own schema by `validate`. No group
    gets a schema entry of its own, so none shows up as an option (`dataset=dataset_schema`).
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="toynets_schema", node=Config)


def _allowed(problems: list[str], key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        problems.append(f"{key}={value!r} is not allowed; choose one of {', '.join(allowed)}")


def _finite(problems: list[str], key: str, value: float | None) -> bool:
    """False (and a problem) for NaN or infinity: every range check below needs a number."""
    if value is None or math.isfinite(value):
        return True
    problems.append(f"{key}={value} must be a finite number")
    return False


def _positive(problems: list[str], key: str, value: float | None, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not _finite(problems, key, value):
        return
    if value is None or value <= 0:
        problems.append(f"{key}={value!r} must be > 0")


SEED_MAX = 2**32 - 1  # NumPy's legacy seeding (Keras' set_random_seed) takes 0 .. 2^32 - 1
PRUNING_FRESH_SEED_OFFSET = 1000  # the pruning study's fresh nets: model seed + this


def _seed(problems: list[str], key: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= SEED_MAX:
        problems.append(f"{key}={value} must be an integer in [0, {SEED_MAX}]")


def _check_dataset(d: DatasetConfig, problems: list[str]) -> None:
    from toynets.data import DATASETS, get_spec, spec_problems

    _allowed(problems, "dataset.name", d.name, tuple(DATASETS))
    _positive(problems, "dataset.n_train", d.n_train)
    _positive(problems, "dataset.n_test", d.n_test)
    if _finite(problems, "dataset.noise", d.noise) and d.noise < 0:
        problems.append(f"dataset.noise={d.noise!r} must be >= 0")
    _positive(problems, "dataset.n_features", d.n_features)
    _seed(problems, "dataset.seed", d.seed)
    if d.name in DATASETS and math.isfinite(d.noise) and d.noise >= 0 and d.n_features > 0:
        problems += spec_problems(get_spec(d.name), d.noise, d.n_features)


def _check_model(m: ModelConfig, problems: list[str]) -> None:
    for i, width in enumerate(m.hidden):
        if width <= 0:
            problems.append(f"model.hidden[{i}]={width} must be a positive width")
    _allowed(problems, "model.activation", m.activation, ACTIVATIONS)
    if m.activation == "maxout" and m.maxout_k < 2:
        problems.append(
            f"model.maxout_k={m.maxout_k} must be >= 2 with model.activation=maxout (the "
            "pre-activations each unit takes the maximum of; 2 is the usual choice)"
        )
    _allowed(problems, "model.head", m.head, HEADS)
    _allowed(problems, "model.initializer", m.initializer, INITIALIZERS)
    _positive(problems, "model.init_scale", m.init_scale)
    _seed(problems, "model.seed", m.seed)


def _check_train(t: TrainConfig, problems: list[str]) -> None:
    _allowed(problems, "train.optimizer", t.optimizer, OPTIMIZERS)
    _positive(problems, "train.lr", t.lr)
    if t.epochs is None and t.steps is None:
        problems.append("train.epochs and train.steps are both null; set one of them")
    _positive(problems, "train.epochs", t.epochs, optional=True)
    _positive(problems, "train.steps", t.steps, optional=True)
    _positive(problems, "train.batch_size", t.batch_size, optional=True)
    _positive(problems, "train.snapshot_every", t.snapshot_every, optional=True)
    _positive(problems, "train.eval_every", t.eval_every, optional=True)
    _seed(problems, "train.seed", t.seed)


def _study(cfg: DictConfig, problems: list[str]) -> Any:
    """The composed study node as its schema's dataclass (STUDY_SCHEMAS), or None (problems)."""
    node = cfg.get("study")
    if not isinstance(node, DictConfig) or node.get("name") is None:
        names = ", ".join(STUDY_SCHEMAS)
        problems.append(f"no study is chosen; choose one with study=NAME ({names})")
        return None
    schema = STUDY_SCHEMAS.get(node.name)
    if schema is None:
        _allowed(problems, "study.name", node.name, tuple(STUDY_SCHEMAS))
        return None
    before = len(problems)
    _unknown_keys(node, schema, "study.", problems)
    if len(problems) > before:
        return None
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except OmegaConfBaseException as error:
        key = f"study.{error.full_key}" if getattr(error, "full_key", None) else "study"
        problems.append(f"{key}: {str(error.msg).splitlines()[0]}")
        return None


def _check_study(s: StudyConfig, problems: list[str]) -> None:
    _positive(problems, "study.grid", s.grid)
    _positive(problems, "study.box_zoom", s.box_zoom)
    if isinstance(s, NodeRemovalConfig):
        _check_node_removal(s, problems)
    if isinstance(s, RelevanceConfig):
        _check_relevance(s, problems)
    if isinstance(s, PruningConfig):
        _check_pruning(s, problems)
    if isinstance(s, FlowConfig):
        _check_flow(s, problems)
    if isinstance(s, WeightEvolutionConfig):
        _check_weight_evolution(s, problems)
    if s.box is not None and not all(math.isfinite(v) for v in s.box):
        problems.append(f"study.box={s.box} must hold finite numbers")
        return
    if s.box is not None and (len(s.box) != 4 or s.box[0] >= s.box[1] or s.box[2] >= s.box[3]):
        problems.append(
            f"study.box={s.box} must be [x1_min, x1_max, x2_min, x2_max] with min < max"
        )


def _unknown_keys(cfg: DictConfig, schema: Any, prefix: str, problems: list[str]) -> None:
    """Keys added with `+key=value` that the schema does not know (Hydra lets them through)."""
    known = {f.name: f for f in fields(schema)}
    for key in cfg:
        if key not in known:
            problems.append(
                f"{prefix}{key} is not a config key; {prefix.rstrip('.') or 'the top level'} "
                f"has: {', '.join(known)}"
            )
        elif is_dataclass(getattr(schema, key, None)) and isinstance(cfg[key], DictConfig):
            _unknown_keys(cfg[key], getattr(schema, key), f"{prefix}{key}.", problems)


def _check_node_removal(s: NodeRemovalConfig, problems: list[str]) -> None:
    for i, p in enumerate(s.ps):
        if _finite(problems, f"study.ps[{i}]", p) and not 0 <= p <= 1:
            problems.append(f"study.ps[{i}]={p} is a probability; it must be in [0, 1]")
    if not s.ps:
        problems.append("study.ps is empty; give at least one probability, e.g. [0.5]")
    for key in ("n_masks", "test_size", "kernel_width", "n_paths", "map_grid", "exact_limit"):
        _positive(problems, f"study.{key}", getattr(s, key))
    for key in ("mc_seed", "test_seed", "path_seed"):
        _seed(problems, f"study.{key}", getattr(s, key))
    if s.n_random_subsets < 0:
        problems.append(f"study.n_random_subsets={s.n_random_subsets} must be >= 0")
    if s.exact not in (True, False, "auto"):
        problems.append(f"study.exact={s.exact!r} is not allowed; choose one of true, false, auto")
    if s.exact_limit > 30:
        problems.append(
            f"study.exact_limit={s.exact_limit}: 2^{s.exact_limit} masks is too "
            "many to enumerate; the most is 30"
        )


def _fraction(problems: list[str], key: str, value: Any) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not _finite(problems, key, float(value)):
        if not ok:
            problems.append(f"{key}={value!r} must be a number in [0, 1)")
        return
    if not 0 <= value < 1:
        problems.append(f"{key}={value} must be in [0, 1): a layer keeps at least one unit")


def _check_pruning(s: PruningConfig, problems: list[str]) -> None:
    for criterion in s.criteria:
        _allowed(problems, "study.criteria", criterion, PRUNING_CRITERIA)
    if not s.criteria:
        problems.append(f"study.criteria is empty; choose from {', '.join(PRUNING_CRITERIA)}")
    if isinstance(s.fraction, list | tuple):
        for i, value in enumerate(s.fraction):
            _fraction(problems, f"study.fraction[{i}]", value)
    else:
        _fraction(problems, "study.fraction", s.fraction)
    for i, value in enumerate(s.fractions):
        _fraction(problems, f"study.fractions[{i}]", value)
    if not s.fractions:
        problems.append("study.fractions is empty; give the fractions to sweep, e.g. [0, 0.5]")
    for key in ("seeds", "shapley_permutations", "shapley_points", "movie_frames"):
        _positive(problems, f"study.{key}", getattr(s, key))
    if s.movie_frames == 1:
        problems.append("study.movie_frames=1 must be >= 2: a movie shows the start and the end")
    for key in ("criteria", "fractions"):
        values = list(getattr(s, key))
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            problems.append(f"study.{key} repeats {', '.join(repeated)}; give each once")
    if s.layers is not None and not s.layers:
        problems.append("study.layers is empty; give hidden layers to prune, or null for all")
    _positive(problems, "study.finetune_steps", s.finetune_steps, optional=True)
    _seed(problems, "study.order_seed", s.order_seed)
    if not 0 <= s.shapley_exact_limit <= 20:
        problems.append(
            f"study.shapley_exact_limit={s.shapley_exact_limit} must be in [0, 20] "
            "(2^n coalitions of the layer's units are scored)"
        )


def _check_pruning_fits(obj: Config, problems: list[str]) -> None:
    """The pruned layers and the per-layer fractions against the model's hidden layers."""
    s, hidden = obj.study, obj.model.hidden
    if not hidden:
        problems.append(
            "study=pruning removes hidden units, and model.hidden=[] has no hidden layer; "
            "give one, e.g. model.hidden=[50,50]"
        )
        return
    if isinstance(s.fraction, list | tuple) and len(s.fraction) != len(hidden):
        problems.append(
            f"study.fraction={list(s.fraction)} has {len(s.fraction)} values; give one number, "
            f"or one per hidden layer of model.hidden={list(hidden)}"
        )
    for layer in s.layers or []:
        if not 0 <= layer < len(hidden):
            problems.append(
                f"study.layers holds {layer}; model.hidden={list(hidden)} has hidden layers "
                f"0..{len(hidden) - 1}"
            )
    seeds = {"seed": obj.seed, "dataset.seed": obj.dataset.seed, "train.seed": obj.train.seed}
    model_seed = obj.seed if obj.model.seed is None else obj.model.seed
    fresh = model_seed + s.seeds - 1 + PRUNING_FRESH_SEED_OFFSET + len(hidden) - 1
    for key, value in seeds.items():
        if value is not None and value + s.seeds - 1 > SEED_MAX:
            problems.append(
                f"{key}={value} with study.seeds={s.seeds}: the last net's seed "
                f"{value + s.seeds - 1} is past {SEED_MAX}; lower one of them"
            )
    if fresh > SEED_MAX:
        problems.append(
            f"{'seed' if obj.model.seed is None else 'model.seed'}={model_seed}: the fresh "
            f"initialisations take seeds up to {fresh} (+ {PRUNING_FRESH_SEED_OFFSET}), past "
            f"{SEED_MAX}; lower it"
        )
    if isinstance(s.fraction, list | tuple) and len(s.fraction) == len(hidden) and not problems:
        _check_fraction_label(s, hidden, problems)


def _check_fraction_label(s: PruningConfig, hidden: list[int], problems: list[str]) -> None:
    """A per-layer `study.fraction` not in the sweep gets its own rows, labelled with the
    share of all hidden units it removes: refused when that label is a swept fraction's."""
    from toynets.analysis.pruning import n_removed

    def per_layer(f: float) -> tuple[float, ...]:
        return tuple(f if s.layers is None or i in s.layers else 0.0 for i in range(len(hidden)))

    main = tuple(float(f) for f in s.fraction)
    if main in [per_layer(f) for f in s.fractions]:
        return
    share = round(sum(n_removed(n, f) for n, f in zip(hidden, main, strict=True)) / sum(hidden), 6)
    if share in [float(f) for f in s.fractions]:
        problems.append(
            f"study.fraction={list(main)} removes a share {share} of all hidden units, which "
            f"is the label of study.fractions' {share} too (another split of the units); "
            "change one of them"
        )


POINT_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # a point's name is part of a figure's file name


def _check_flow(s: FlowConfig, problems: list[str]) -> None:
    _allowed(problems, "study.palette", s.palette, FLOW_PALETTES)
    _allowed(problems, "study.colour_norm", s.colour_norm, FLOW_COLOUR_NORMS)
    for key in ("region_grid", "track_grid", "thumbnail_grid", "explorer_grid"):
        _positive(problems, f"study.{key}", getattr(s, key))
    for key in ("region_grid", "track_grid", "thumbnail_grid", "explorer_grid"):
        if 0 < getattr(s, key) < 2:
            problems.append(f"study.{key}={getattr(s, key)} must be >= 2 (points per side)")
    if s.explorer_grid > 400:
        problems.append(
            f"study.explorer_grid={s.explorer_grid} must be <= 400: flow.html computes every "
            "point of its grid in the browser"
        )
    names = []
    for i, entry in enumerate(s.points):
        entry = list(entry) if isinstance(entry, list | tuple) else [entry]
        numbers = entry[1:] if len(entry) == 3 else entry
        if len(entry) not in (2, 3) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in numbers
        ):
            problems.append(
                f"study.points[{i}]={entry} must be [name, x1, x2] or [x1, x2] with finite "
                "numbers, e.g. [NE, 1, 1]"
            )
            continue
        name = str(entry[0]) if len(entry) == 3 else f"p{i}"
        if not POINT_NAME.fullmatch(name):
            problems.append(
                f"study.points[{i}]: the name {name!r} must be 1-40 letters, digits, _ or - "
                "(it names the point's figure)"
            )
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"study.points names {', '.join(repeated)} more than once; name each once")
    for i, index in enumerate(s.samples):
        if index < 0:
            problems.append(f"study.samples[{i}]={index} must be a training point's index >= 0")
    if not s.points and not s.samples:
        problems.append(
            "study.points and study.samples are both empty; give a point to follow, e.g. "
            "study.points={NE:[1,1]}"
        )


def _check_flow_fits(obj: Config, problems: list[str]) -> None:
    s = obj.study
    for i, index in enumerate(s.samples):
        if index >= obj.dataset.n_train:
            problems.append(
                f"study.samples[{i}]={index}: the training set has dataset.n_train="
                f"{obj.dataset.n_train} points, 0..{obj.dataset.n_train - 1}"
            )
    if obj.dataset.n_features < 2:
        problems.append("study=flow draws the input plane; it needs dataset.n_features >= 2")


def chosen_inputs(s: WeightEvolutionConfig, n_features: int) -> list[int]:
    """The inputs the weight-evolution study follows: `study.chosen`, or by default x1 and x2
    (DIGEST §5), x1 alone when the net has only two inputs (the other one is the rest)."""
    if s.chosen is not None:
        return list(s.chosen)
    return [0, 1] if n_features > 2 else [0]


def compared_optimizers(s: WeightEvolutionConfig) -> list[tuple[str, float]]:
    """`study.compare` of the weight-evolution study as (optimizer, lr) pairs."""
    return [(str(name), float(lr)) for name, lr in s.compare]


def _check_weight_evolution(s: WeightEvolutionConfig, problems: list[str]) -> None:
    chosen = s.chosen or []
    if len(set(chosen)) != len(chosen) or any(c < 0 for c in chosen):
        problems.append(f"study.chosen={s.chosen} must be distinct input indices (0 is x1)")
    if s.unit < 0:
        problems.append(f"study.unit={s.unit} must be >= 0 (a unit of the first layer)")
    if s.movie_frames is not None and s.movie_frames < 2:
        problems.append(f"study.movie_frames={s.movie_frames} must be >= 2, or null for all")
    if s.frame_ms < 20:
        problems.append(
            f"study.frame_ms={s.frame_ms} must be >= 20 (browsers show shorter GIF frames for "
            "100 ms)"
        )
    _positive(problems, "study.movie_limit", s.movie_limit, optional=True)
    if s.slider_frames < 0:
        problems.append(f"study.slider_frames={s.slider_frames} must be >= 0 (0: none)")
    names = []
    for i, entry in enumerate(s.compare):
        key = f"study.compare[{i}]"
        if not isinstance(entry, list | tuple) or len(entry) != 2 or isinstance(entry[1], str):
            problems.append(f"{key}={entry} must be [optimizer, lr], e.g. [random_walk, 0.001]")
            continue
        name, lr = entry
        _allowed(problems, f"{key} (the optimizer)", name, OPTIMIZERS)
        _positive(problems, f"{key} (the lr)", lr)
        names.append(name)
    if len(set(names)) != len(names):
        problems.append(f"study.compare={s.compare} names an optimizer twice")


def _check_weight_evolution_fits(obj: Config, problems: list[str]) -> None:
    """The chosen inputs and the unit exist in the job's net, and leave a rest to average."""
    from toynets.data import get_spec

    s, d, m = obj.study, obj.dataset.n_features, obj.model
    chosen = chosen_inputs(s, d)
    if s.chosen is not None and not s.chosen:
        problems.append("study.chosen=[] is empty; give at least one input (0 is x1), or null")
    bad = [c for c in chosen if c >= d]
    if bad:
        problems.append(
            f"study.chosen={chosen}: the net has dataset.n_features={d} inputs, 0..{d - 1}"
        )
    elif len(chosen) >= d:
        problems.append(
            f"study.chosen={chosen} takes all {d} inputs; leave at least one for the mean "
            "of the rest"
        )
    if m.hidden:
        width, what = m.hidden[0], f"model.hidden[0]={m.hidden[0]}"
    elif m.head in ("logit", "linear"):
        width, what = 1, f"model.hidden=[] with model.head={m.head} (one output)"
    else:
        width = max(get_spec(obj.dataset.name).n_classes, 1)
        what = f"model.hidden=[] with a softmax over {width} classes"
    if s.unit >= width:
        problems.append(f"study.unit={s.unit}: the first layer has {width} units ({what})")


def _check_relevance(s: RelevanceConfig, problems: list[str]) -> None:
    from toynets.analysis.relevance import METHODS

    for i, name in enumerate(s.methods or []):
        _allowed(problems, f"study.methods[{i}]", name, tuple(METHODS))
    if s.methods is not None and not s.methods:
        problems.append("study.methods is empty; give at least one method, or null for all")
    for key, value in [("epsilon", s.epsilon)] + [
        (f"epsilon_sweep[{i}]", v) for i, v in enumerate(s.epsilon_sweep)
    ]:
        if _finite(problems, f"study.{key}", value) and value < 0:
            problems.append(f"study.{key}={value} must be >= 0")
    if _finite(problems, "study.alpha", s.alpha) and s.alpha < 1:
        problems.append(f"study.alpha={s.alpha} must be >= 1 (beta = alpha - 1 >= 0)")
    _allowed(problems, "study.max_rule", s.max_rule, ("gradient", "radial"))
    _allowed(problems, "study.deeplift_max", s.deeplift_max, ("softmax_limit", "relu_chain"))
    if isinstance(s.baseline, str):
        _allowed(problems, "study.baseline", s.baseline, ("zeros", "mean"))
    elif not isinstance(s.baseline, list) or not all(
        isinstance(v, int | float) and math.isfinite(v) for v in s.baseline
    ):
        problems.append(
            f"study.baseline={s.baseline!r} must be zeros, mean or a list of numbers, one per input"
        )
    if isinstance(s.target, str):
        _allowed(problems, "study.target", s.target, ("predicted",))
    elif isinstance(s.target, bool) or not isinstance(s.target, int) or s.target < 0:
        problems.append(f"study.target={s.target!r} must be predicted or a class index >= 0")
    for key in ("n_explain", "n_random_orders"):
        _positive(problems, f"study.{key}", getattr(s, key))
    if s.sample is not None and not 0 <= s.sample < s.n_explain:
        problems.append(f"study.sample={s.sample} must be in [0, study.n_explain={s.n_explain})")
    if _finite(problems, "study.bias_dominance", s.bias_dominance) and not (
        0 < s.bias_dominance < 1
    ):
        problems.append(f"study.bias_dominance={s.bias_dominance} must be in (0, 1)")
    _seed(problems, "study.order_seed", s.order_seed)


def _check_relevance_fits(obj: Config, problems: list[str]) -> None:
    """The relevance methods against the model's activation, the baseline and target against
    the data (the shapes the run would fail on)."""
    from toynets.analysis.relevance import METHODS, valid_methods
    from toynets.data import get_spec

    study, model = obj.study, obj.model
    activation = model.activation if model.hidden else "linear"
    for name in study.methods or []:
        if activation not in METHODS[name].activations:
            problems.append(
                f"study.methods: {name} is defined for {', '.join(METHODS[name].activations)} "
                f"hidden layers, not model.activation={activation}; the methods for "
                f"{activation} are {', '.join(valid_methods(activation))}"
            )
    d = obj.dataset.n_features
    if isinstance(study.baseline, list) and len(study.baseline) != d:
        problems.append(f"study.baseline has {len(study.baseline)} values; the data has {d} inputs")
    if isinstance(study.target, int) and not isinstance(study.target, bool):
        spec = get_spec(obj.dataset.name)
        softmax = model.head == "softmax" or (model.head == "auto" and spec.task != "regression")
        outputs = spec.n_classes if softmax else 1
        if study.target >= outputs:
            problems.append(
                f"study.target={study.target}: the net has {outputs} output unit(s), "
                f"0..{outputs - 1}"
            )
    if study.sample is not None and study.sample >= min(study.n_explain, obj.dataset.n_test):
        problems.append(
            f"study.sample={study.sample}: only {min(study.n_explain, obj.dataset.n_test)} "
            "test points are explained"
        )


def _check_exact_size(obj: Config, problems: list[str]) -> None:
    study = obj.study
    if isinstance(study, NodeRemovalConfig) and not obj.model.hidden:
        problems.append(
            "study=node_removal removes hidden units, and model.hidden=[] has no hidden unit; "
            "give it at least one layer, e.g. model.hidden=[20]"
        )
        return
    if isinstance(study, NodeRemovalConfig) and study.exact is True:
        units = sum(obj.model.hidden)
        if units > study.exact_limit:
            problems.append(
                f"study.exact=true would enumerate 2^{units} masks of model.hidden="
                f"{obj.model.hidden}, over study.exact_limit={study.exact_limit}; set "
                "study.exact=auto or false (Monte Carlo only), or raise the limit"
            )
    if isinstance(study, NodeRemovalConfig):
        for subset in study.subsets:
            bad = [u for u in subset if not 0 <= u < sum(obj.model.hidden)]
            if bad:
                problems.append(
                    f"study.subsets: units {bad} do not exist; the net has units "
                    f"0..{sum(obj.model.hidden) - 1}"
                )


def validate(cfg: DictConfig) -> Config:
    """Check every group of a composed config; return it as dataclasses or raise ConfigError."""
    try:
        obj = OmegaConf.to_object(cfg)
    except InterpolationResolutionError as error:
        raise ConfigError(
            f"invalid config:\n  - {error.full_key}: {_interpolation_problem(error)}"
        ) from None
    assert isinstance(obj, Config)
    problems: list[str] = []
    _unknown_keys(cfg, obj, "", problems)
    _check_dataset(obj.dataset, problems)
    _check_model(obj.model, problems)
    _check_train(obj.train, problems)
    obj.study = _study(cfg, problems)
    if obj.study is not None:
        _check_study(obj.study, problems)
    if not problems:
        _check_exact_size(obj, problems)
    if not problems and isinstance(obj.study, RelevanceConfig):
        _check_relevance_fits(obj, problems)
    if not problems and isinstance(obj.study, PruningConfig):
        _check_pruning_fits(obj, problems)
    if not problems and isinstance(obj.study, FlowConfig):
        _check_flow_fits(obj, problems)
    if not problems and isinstance(obj.study, WeightEvolutionConfig):
        _check_weight_evolution_fits(obj, problems)
    _positive(problems, "tracking.stream_every", obj.tracking.stream_every, optional=True)
    _seed(problems, "seed", obj.seed)
    _positive(problems, "max_memory_gb", obj.max_memory_gb)
    _check_experiment(obj.tracking.experiment, problems)
    if "/" not in obj.objective:
        problems.append(
            f"objective={obj.objective!r} must name a metric, e.g. final/test_loss or "
            "final/test_accuracy"
        )
    if not problems:
        from toynets.budget import over_budget

        too_big = over_budget(obj, obj.max_memory_gb)
        if too_big:
            problems.append(too_big)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return obj


EXPERIMENT_FORBIDDEN = set('/\\:*?"<>|')


def _check_experiment(name: str | None, problems: list[str]) -> None:
    """An experiment's artifacts live in mlruns/<name>/: the name must stay one folder there."""
    if name is None:
        return
    bad = sorted(set(name) & EXPERIMENT_FORBIDDEN) or [c for c in name if ord(c) < 32]
    if not name.strip() or name.strip() in (".", "..") or bad or name != name.strip():
        problems.append(
            f"tracking.experiment={name!r} must be a plain name (letters, digits, spaces, "
            '- _ . ,), not empty, . or .., without / \\ : * ? " < > | or leading/trailing spaces'
        )


def _interpolation_problem(error: InterpolationResolutionError) -> str:
    """`${oc.env:NAME}` of a variable that is not set, or another interpolation that fails."""
    text = str(error.msg).splitlines()[0]
    if "Environment variable" in text and "not found" in text:
        name = text.split("'")[1] if text.count("'") >= 2 else "?"
        return (
            f"the environment variable {name} is not set; set it, or give a default as in "
            f"${{oc.env:{name},VALUE}}"
        )
    return text


def bool_override_problems(overrides: list[str]) -> list[str]:
    """Overrides of a yes/no key with something other than true or false: OmegaConf reads any
    integer as a bool (`dataset.faithful=2` is True), which hides a typo."""
    problems = []
    for override in overrides:
        key, sep, value = override.partition("=")
        key = key.lstrip("+~")
        if (
            sep
            and field_type(key) in (bool, "bool")
            and value.strip().lower() not in ("true", "false")
        ):
            problems.append(f"{key}={value} is not allowed; choose one of true, false")
    return problems


def field_type(key: str) -> Any:
    """The declared type of a dotted key of `Config` (a group's dataclass instance for a group,
    None for keys it does not declare)."""
    node: Any = Config
    for part in key.split("."):
        match = [f for f in fields(node) if f.name == part] if is_dataclass(node) else []
        if not match:
            return None
        declared = match[0]
        node = declared.default_factory() if callable(declared.default_factory) else declared.type
    return node
