"""Toy datasets: the sources' data (DIGEST sections 1, 3, 4, 5) plus TensorFlow Playground's.

Every dataset is a small rule on the plane (plus, for the section-5 sets, irrelevant features).
``make(cfg, seed)`` draws a train and a test set with ``np.random.default_rng(seed)``; the same
seed gives bit-identical arrays. Inputs are float32; labels are int32 class indices
(classification) or float32 targets (regression). Labels are computed from the float32 inputs,
so ``truth(x_train) == y_train`` exactly when ``noise == 0`` (where a truth is known).

What ``noise`` means depends on the family (``DatasetSpec.noise_kind``):

=============  ==============================================================================
``flip``       classification rule sets (``circle``, ``fcnn_*``, ``halfplane``, ``sine``):
               each label is replaced, with probability ``noise`` (0..1), by a uniformly
               random *other* class (for binary: flipped).
``gaussian``   regression rule sets (``fcnn_prod`` ...): targets + N(0, noise^2).
``position``   ``spiral``: the points are moved by N(0, noise^2) in each coordinate; labels
               keep the arm they were drawn from.
``playground`` ``playground_*``: exactly as in tensorflow/playground ``src/dataset.ts``,
               noise in [0, 0.5] (the UI percentage / 100).
=============  ==============================================================================

How the test set is drawn (``DatasetSpec.split``): ``iid`` draws train then test from the same
stream; ``stratified`` (section 5) draws ``n_train + n_test`` points and splits them keeping the
class proportions, as the source's StratifiedShuffleSplit; ``shuffle`` (playground) draws
``n_train + n_test`` points, shuffles them and cuts, as playground.ts does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Task = Literal["binary", "multiclass", "regression"]
Split = Literal["iid", "stratified", "shuffle"]
NoiseKind = Literal["flip", "gaussian", "position", "playground"]
Domain = tuple[float, float, float, float]
Rule = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SampleParams:
    """What a sampler needs besides the generator and the number of points."""

    noise: float
    n_features: int
    rule: Rule | None  # the noise-free rule in use (e.g. circle: default or as-written)


Sampler = Callable[[np.random.Generator, int, SampleParams], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Dataset:
    name: str
    task: Task
    n_classes: int  # 2 for binary, k for multiclass, 0 for regression
    x_train: np.ndarray  # float32 [n_train, d]
    y_train: np.ndarray  # int32 [n_train] (classification) | float32 [n_train] (regression)
    x_test: np.ndarray
    y_test: np.ndarray
    domain: Domain  # (x1_min, x1_max, x2_min, x2_max)
    truth: Rule | None  # noise-free rule on points [m, d] -> labels/targets [m]

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    task: Task
    n_classes: int
    domain: Domain
    sample: Sampler  # (rng, n, params) -> (x float32 [n, d], y [n]), noise included
    truth: Rule | None
    description: str
    defaults: dict[str, Any]  # n_train, n_test, noise, n_features
    noise_kind: NoiseKind
    noise_max: float
    split: Split = "iid"
    faithful_truth: Rule | None = None  # circle only: the rule as written in the source
    fixed_features: bool = True  # True: exactly 2 inputs; False: 2 + irrelevant ones (section 5)


# ---------------------------------------------------------------------------------------------
# small helpers


def _xy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    return x[:, 0], x[:, 1]


def _labels(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask, dtype=np.int32)


def _classes(values: np.ndarray, k: int) -> np.ndarray:
    """int(values) clipped to 0..k-1 (values >= 0, so int = floor)."""
    return np.clip(np.floor(values), 0, k - 1).astype(np.int32)


def _targets(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _uniform_box(low: float, high: float) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    def draw(rng: np.random.Generator, n: int, n_features: int) -> np.ndarray:
        return rng.uniform(low, high, size=(n, 2))

    return draw


def _flip(rng: np.random.Generator, y: np.ndarray, n_classes: int, p: float) -> np.ndarray:
    """With probability p replace each label by a uniformly random other class."""
    if p == 0:
        return y
    flip = rng.random(y.shape[0]) < p
    shift = rng.integers(1, n_classes, size=y.shape[0])
    return np.where(flip, (y + shift) % n_classes, y).astype(np.int32)


def _rule_sampler(
    draw: Callable[[np.random.Generator, int, int], np.ndarray], task: Task, n_classes: int
) -> Sampler:
    """Inputs from ``draw``, labels = the rule on the float32 inputs, then label/target noise."""

    def sample(rng: np.random.Generator, n: int, p: SampleParams) -> tuple[np.ndarray, np.ndarray]:
        assert p.rule is not None
        x = draw(rng, n, p.n_features).astype(np.float32)
        y = p.rule(x)
        if task == "regression":
            if p.noise > 0:
                y = (y + p.noise * rng.standard_normal(n)).astype(np.float32)
        else:
            y = _flip(rng, y, n_classes, p.noise)
        return x, y

    return sample


# ---------------------------------------------------------------------------------------------
# section 1: circle


_R2_HALF = 2 / np.pi  # r^2 of the circle holding half of [-1,1]^2: pi r^2 = 2
_R2_AS_WRITTEN = np.sqrt(2 / np.pi)  # the source compares r^2 with sqrt(2/pi) = 0.798


def circle_truth(x: np.ndarray) -> np.ndarray:
    """DIGEST 1 (002 part 1), intended rule: label 1 = outside, x1^2 + x2^2 > 2/pi (50/50)."""
    x1, x2 = _xy(x)
    return _labels(x1**2 + x2**2 > _R2_HALF)


def circle_truth_as_written(x: np.ndarray) -> np.ndarray:
    """DIGEST 1, the rule as written in the source: x1^2 + x2^2 > sqrt(2/pi) (~62.7 % inside)."""
    x1, x2 = _xy(x)
    return _labels(x1**2 + x2**2 > _R2_AS_WRITTEN)


# ---------------------------------------------------------------------------------------------
# section 3: spiral

SPIRAL_TURNS = 1.75  # as many turns as TensorFlow Playground's spiral


def sample_spiral(
    rng: np.random.Generator, n: int, p: SampleParams
) -> tuple[np.ndarray, np.ndarray]:
    """Two-arm spiral (DIGEST 3; the source's generator is not recoverable, this one is ours).

    Class c ~ Bernoulli(1/2), s ~ U(0, 1), radius r = s, angle t = 2 pi * 1.75 * s + c pi;
    x = r (cos t, sin t) + N(0, noise^2) per coordinate. The arms of the two classes are
    0.29 apart along any ray; noise 0.05 (the default) keeps them well separated, and
    the domain [-1.2, 1.2]^2 covers r <= 1 plus 4 noise stds.
    """
    c = rng.integers(0, 2, size=n)
    s = rng.uniform(0.0, 1.0, size=n)
    t = 2 * np.pi * SPIRAL_TURNS * s + np.pi * c
    x = np.stack([s * np.cos(t), s * np.sin(t)], axis=1)
    if p.noise > 0:
        x = x + p.noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), c.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# section 4: FCNN series (003; takeawildguess/FCNNlib), x ~ U[-2, 2]^2


def fcnn_prod(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `prod`: y = x1 x2 / 4."""
    x1, x2 = _xy(x)
    return _targets(x1 * x2 / 4)


def fcnn_sum_squares(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `sumSquares`: y = (x1^2 + x2^2) / 4."""
    x1, x2 = _xy(x)
    return _targets((x1**2 + x2**2) / 4)


def fcnn_polynom(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `polynom`: y = (x1^2 - 3 x1 x2 - x2^2) / 4."""
    x1, x2 = _xy(x)
    return _targets((x1**2 - 3 * x1 * x2 - x2**2) / 4)


def fcnn_and(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `and`: 1 iff x1 > 0 and x2 > 0."""
    x1, x2 = _xy(x)
    return _labels((x1 > 0) & (x2 > 0))


def fcnn_or(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `or`: 1 iff x1 > 0 or x2 > 0."""
    x1, x2 = _xy(x)
    return _labels((x1 > 0) | (x2 > 0))


def fcnn_xor(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `xor`: 1 iff x1 x2 > 0."""
    x1, x2 = _xy(x)
    return _labels(x1 * x2 > 0)


def fcnn_stripe(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `stripe`: 1 iff |x1 - x2| <= 1."""
    x1, x2 = _xy(x)
    return _labels(np.abs(x1 - x2) <= 1)


def fcnn_square(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `square` (a diamond): 1 iff |x1| + |x2| <= 1."""
    x1, x2 = _xy(x)
    return _labels(np.abs(x1) + np.abs(x2) <= 1)


def fcnn_circle(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `circle`: 1 iff x1^2 + x2^2 <= 1."""
    x1, x2 = _xy(x)
    return _labels(x1**2 + x2**2 <= 1)


def fcnn_squares(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `squares`: int(|x1| + |x2|), 4 classes (the value 4 only at the corners -> 3)."""
    x1, x2 = _xy(x)
    return _classes(np.abs(x1) + np.abs(x2), 4)


def fcnn_circles(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `circles`: int((x1^2 + x2^2) / 2), 4 classes (8/2 = 4 only at corners -> 3)."""
    x1, x2 = _xy(x)
    return _classes((x1**2 + x2**2) / 2, 4)


def fcnn_quadrants(x: np.ndarray) -> np.ndarray:
    """DIGEST 4 `quadrants`: int(2 (atan2(x2, x1) / pi + 1)), 4 classes.

    0 = third quadrant (x1 < 0, x2 < 0), 1 = fourth, 2 = first, 3 = second; the value 4
    (atan2 = pi, on the negative x1 axis) is clipped to 3.
    """
    x1, x2 = _xy(x)
    return _classes(2 * (np.arctan2(x2, x1) / np.pi + 1), 4)


# ---------------------------------------------------------------------------------------------
# section 5: weight evolution (004; rafael-a-monteiro-math/Stochastic-Simulations)


def _gaussian_with_irrelevant(
    irrelevant_std: float,
) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    def draw(rng: np.random.Generator, n: int, n_features: int) -> np.ndarray:
        x = np.empty((n, n_features))
        x[:, :2] = 10 * rng.standard_normal((n, 2))
        x[:, 2:] = irrelevant_std * rng.standard_normal((n, n_features - 2))
        return x

    return draw


def halfplane_truth(x: np.ndarray) -> np.ndarray:
    """DIGEST 5 (004): X = 10 randn, y = 1 iff x1 >= 0; features 3.. are 0.01 randn (irrelevant)."""
    x1, _ = _xy(x)
    return _labels(x1 >= 0)


def sine_truth(x: np.ndarray) -> np.ndarray:
    """DIGEST 5 (004), non-linear boundary: y = 1 iff x1 >= 5 sin(x2); irrelevant 0.1 randn."""
    x1, x2 = _xy(x)
    return _labels(x1 >= 5 * np.sin(x2))


# ---------------------------------------------------------------------------------------------
# TensorFlow Playground (tensorflow/playground src/dataset.ts); their label +1 -> 1, -1 -> 0


def _halves(n: int) -> tuple[int, int]:
    """Points of the positive and the negative class (dataset.ts draws n/2 each)."""
    return n - n // 2, n // 2


def _polar(r: np.ndarray, angle: np.ndarray) -> np.ndarray:
    # dataset.ts: x = r sin(angle), y = r cos(angle)
    return np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)


def playground_circle_truth(x: np.ndarray) -> np.ndarray:
    """dataset.ts classifyCircleData: 1 iff |x| < 2.5 (radius 5 * 0.5)."""
    x1, x2 = _xy(x)
    return _labels(np.sqrt(x1**2 + x2**2) < 2.5)


def sample_playground_circle(
    rng: np.random.Generator, n: int, p: SampleParams
) -> tuple[np.ndarray, np.ndarray]:
    """dataset.ts classifyCircleData: half the points with r ~ U(0, 2.5), half with
    r ~ U(3.5, 5), angle ~ U(0, 2 pi); the label is the rule at the point moved by
    U(-5, 5) * noise per coordinate (the point itself is not moved)."""
    n_pos, n_neg = _halves(n)
    r = np.concatenate([rng.uniform(0, 2.5, n_pos), rng.uniform(3.5, 5, n_neg)])
    angle = rng.uniform(0, 2 * np.pi, n)
    x = _polar(r, angle).astype(np.float32)
    shift = rng.uniform(-5, 5, size=(n, 2)) * p.noise
    return x, playground_circle_truth(x.astype(np.float64) + shift)


def playground_xor_truth(x: np.ndarray) -> np.ndarray:
    """dataset.ts classifyXORData: 1 iff x y >= 0."""
    x1, x2 = _xy(x)
    return _labels(x1 * x2 >= 0)


def sample_playground_xor(
    rng: np.random.Generator, n: int, p: SampleParams
) -> tuple[np.ndarray, np.ndarray]:
    """dataset.ts classifyXORData: x, y ~ U(-5, 5), each pushed 0.3 away from the axis
    (so |x|, |y| in [0.3, 5.3]); label = rule at the point moved by U(-5, 5) * noise."""
    x = rng.uniform(-5, 5, size=(n, 2))
    x = np.where(x > 0, x + 0.3, x - 0.3).astype(np.float32)
    shift = rng.uniform(-5, 5, size=(n, 2)) * p.noise
    return x, playground_xor_truth(x.astype(np.float64) + shift)


def sample_playground_gauss(
    rng: np.random.Generator, n: int, p: SampleParams
) -> tuple[np.ndarray, np.ndarray]:
    """dataset.ts classifyTwoGaussData: half N((2, 2), v I) labelled 1, half N((-2, -2), v I)
    labelled 0, variance v = 0.5 + 7 noise (d3 scale [0, 0.5] -> [0.5, 4])."""
    n_pos, n_neg = _halves(n)
    std = np.sqrt(0.5 + 7 * p.noise)
    centres = np.repeat(np.array([[2.0, 2.0], [-2.0, -2.0]]), [n_pos, n_neg], axis=0)
    x = centres + std * rng.standard_normal((n, 2))
    y = np.repeat(np.array([1, 0], dtype=np.int32), [n_pos, n_neg])
    return x.astype(np.float32), y


def sample_playground_spiral(
    rng: np.random.Generator, n: int, p: SampleParams
) -> tuple[np.ndarray, np.ndarray]:
    """dataset.ts classifySpiralData: two arms of m points, i = 0..m-1, r = 5 i / m,
    t = 1.75 * 2 pi i / m + {0 (label 1), pi (label 0)}, point r (sin t, cos t) plus
    U(-1, 1) * noise per coordinate. Without noise the points are fixed (only the shuffle
    is random)."""
    parts = []
    for m, delta in zip(_halves(n), (0.0, np.pi), strict=True):
        i = np.arange(m) / max(m, 1)
        parts.append(_polar(5 * i, 1.75 * 2 * np.pi * i + delta))
    x = np.concatenate(parts) + rng.uniform(-1, 1, size=(n, 2)) * p.noise
    y = np.repeat(np.array([1, 0], dtype=np.int32), list(_halves(n)))
    return x.astype(np.float32), y


def playground_reg_plane_truth(x: np.ndarray) -> np.ndarray:
    """dataset.ts regressPlane: y = (x1 + x2) / 10 (d3 scale [-10, 10] -> [-1, 1])."""
    x1, x2 = _xy(x)
    return _targets((x1 + x2) / 10)


_PLAYGROUND_GAUSSIANS = np.array(
    [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]],
    dtype=np.float64,
)


def playground_reg_gauss_truth(x: np.ndarray) -> np.ndarray:
    """dataset.ts regressGaussian: six bumps sign * clip(1 - d / 2, 0, 1) (d = distance to the
    centre), centres (+-4 | 0, +-2.5), signs alternating; the bump largest in |value| wins."""
    x1, x2 = _xy(x)
    cx, cy, sign = _PLAYGROUND_GAUSSIANS.T
    d = np.sqrt((x1[:, None] - cx) ** 2 + (x2[:, None] - cy) ** 2)
    values = sign * np.clip(1 - d / 2, 0, 1)
    best = np.argmax(np.abs(values), axis=1)  # first maximum, as dataset.ts's strict '>'
    return _targets(values[np.arange(len(best)), best])


def _playground_regression(truth: Rule) -> Sampler:
    def sample(rng: np.random.Generator, n: int, p: SampleParams) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-6, 6, size=(n, 2)).astype(np.float32)
        shift = rng.uniform(-6, 6, size=(n, 2)) * p.noise
        return x, truth(x.astype(np.float64) + shift)

    sample.__doc__ = (
        "dataset.ts regressPlane / regressGaussian: x, y ~ U(-6, 6); target = the rule at the "
        "point moved by U(-6, 6) * noise per coordinate (the point itself is not moved)."
    )
    return sample


# ---------------------------------------------------------------------------------------------
# registry


def _defaults(n_train: int, n_test: int, noise: float = 0.0, n_features: int = 2) -> dict:
    return {"n_train": n_train, "n_test": n_test, "noise": noise, "n_features": n_features}


_FCNN_BOX: Domain = (-2.0, 2.0, -2.0, 2.0)
_FCNN_RULES: list[tuple[str, Task, int, Rule, str]] = [
    ("fcnn_prod", "regression", 0, fcnn_prod, "x1 x2 / 4"),
    ("fcnn_sum_squares", "regression", 0, fcnn_sum_squares, "(x1^2 + x2^2) / 4"),
    ("fcnn_polynom", "regression", 0, fcnn_polynom, "(x1^2 - 3 x1 x2 - x2^2) / 4"),
    ("fcnn_and", "binary", 2, fcnn_and, "x1 > 0 and x2 > 0"),
    ("fcnn_or", "binary", 2, fcnn_or, "x1 > 0 or x2 > 0"),
    ("fcnn_xor", "binary", 2, fcnn_xor, "x1 x2 > 0"),
    ("fcnn_stripe", "binary", 2, fcnn_stripe, "|x1 - x2| <= 1"),
    ("fcnn_square", "binary", 2, fcnn_square, "|x1| + |x2| <= 1"),
    ("fcnn_circle", "binary", 2, fcnn_circle, "x1^2 + x2^2 <= 1"),
    ("fcnn_squares", "multiclass", 4, fcnn_squares, "int(|x1| + |x2|), 4 classes"),
    ("fcnn_circles", "multiclass", 4, fcnn_circles, "int((x1^2 + x2^2) / 2), 4 classes"),
    ("fcnn_quadrants", "multiclass", 4, fcnn_quadrants, "int(2 (atan2(x2, x1) / pi + 1))"),
]


def _build_registry() -> dict[str, DatasetSpec]:
    specs: list[DatasetSpec] = [
        DatasetSpec(
            name="circle",
            task="binary",
            n_classes=2,
            domain=(-1.0, 1.0, -1.0, 1.0),
            sample=_rule_sampler(_uniform_box(-1, 1), "binary", 2),
            truth=circle_truth,
            faithful_truth=circle_truth_as_written,
            description="DIGEST 1: U[-1,1]^2, 1 = outside r^2 = 2/pi (faithful: sqrt(2/pi))",
            defaults=_defaults(1000, 1000),
            noise_kind="flip",
            noise_max=1.0,
        ),
        DatasetSpec(
            name="spiral",
            task="binary",
            n_classes=2,
            domain=(-1.2, 1.2, -1.2, 1.2),
            sample=sample_spiral,
            truth=None,
            description="DIGEST 3: two-arm spiral, r = s, angle 3.5 pi s + c pi, s ~ U(0,1)",
            defaults=_defaults(1000, 1000, noise=0.05),
            noise_kind="position",
            noise_max=np.inf,
        ),
    ]
    for name, task, k, rule, text in _FCNN_RULES:
        specs.append(
            DatasetSpec(
                name=name,
                task=task,
                n_classes=k,
                domain=_FCNN_BOX,
                sample=_rule_sampler(_uniform_box(-2, 2), task, k),
                truth=rule,
                description=f"DIGEST 4 (FCNN): U[-2,2]^2, {text}",
                defaults=_defaults(2500, 500),
                noise_kind="gaussian" if task == "regression" else "flip",
                noise_max=np.inf if task == "regression" else 1.0,
            )
        )
    for name, rule, irrelevant_std, n_all, text in [
        ("halfplane", halfplane_truth, 0.01, 1000, "x1 >= 0, irrelevant 0.01 randn"),
        ("sine", sine_truth, 0.1, 400, "x1 >= 5 sin(x2), irrelevant 0.1 randn"),
    ]:
        specs.append(
            DatasetSpec(
                name=name,
                task="binary",
                n_classes=2,
                domain=(-30.0, 30.0, -30.0, 30.0),  # +-3 std of 10 randn
                sample=_rule_sampler(_gaussian_with_irrelevant(irrelevant_std), "binary", 2),
                truth=rule,
                description=f"DIGEST 5: X = 10 randn, {text}; stratified 80/20 split",
                defaults=_defaults(n_all * 4 // 5, n_all // 5, n_features=15),
                noise_kind="flip",
                noise_max=1.0,
                split="stratified",
                fixed_features=False,
            )
        )
    playground = [
        ("playground_circle", "binary", sample_playground_circle, playground_circle_truth,
         (-5.0, 5.0, -5.0, 5.0), "circle r < 2.5 vs ring 3.5..5"),
        ("playground_xor", "binary", sample_playground_xor, playground_xor_truth,
         (-5.3, 5.3, -5.3, 5.3), "xor, U(-5,5) pushed 0.3 off the axes"),
        ("playground_gauss", "binary", sample_playground_gauss, None,
         (-5.0, 5.0, -5.0, 5.0), "two Gaussians at (2,2) and (-2,-2)"),
        ("playground_spiral", "binary", sample_playground_spiral, None,
         (-5.0, 5.0, -5.0, 5.0), "two-arm spiral, r = 5 i/n, 1.75 turns"),
        ("playground_reg_plane", "regression", _playground_regression(playground_reg_plane_truth),
         playground_reg_plane_truth, (-6.0, 6.0, -6.0, 6.0), "(x1 + x2) / 10 on U(-6,6)^2"),
        ("playground_reg_gauss", "regression", _playground_regression(playground_reg_gauss_truth),
         playground_reg_gauss_truth, (-6.0, 6.0, -6.0, 6.0), "six signed bumps on U(-6,6)^2"),
    ]  # fmt: skip
    for name, task, sampler, rule, domain, text in playground:
        # playground.ts: 500 points (classification) / 1200 (regression), 50 % train
        n_half = 600 if task == "regression" else 250
        specs.append(
            DatasetSpec(
                name=name,
                task=task,
                n_classes=0 if task == "regression" else 2,
                domain=domain,
                sample=sampler,
                truth=rule,
                description=f"TensorFlow Playground dataset.ts: {text}",
                defaults=_defaults(n_half, n_half),
                noise_kind="playground",
                noise_max=0.5,
                split="shuffle",
            )
        )
    return {spec.name: spec for spec in specs}


DATASETS: dict[str, DatasetSpec] = _build_registry()
DEFAULTS: dict[str, dict[str, Any]] = {name: dict(s.defaults) for name, s in DATASETS.items()}


def dataset_names() -> list[str]:
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; ValueError listing the allowed names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        allowed = ", ".join(DATASETS)
        raise ValueError(f"unknown dataset {name!r}; allowed names: {allowed}") from None


# ---------------------------------------------------------------------------------------------
# splitting and make()


def stratified_split(
    rng: np.random.Generator, y: np.ndarray, n_test: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with n_test test points, each class split in proportion
    (largest remainder rounding), both shuffled, like sklearn's StratifiedShuffleSplit."""
    classes, counts = np.unique(y, return_counts=True)
    exact = n_test * counts / len(y)
    k = np.floor(exact).astype(int)
    k[np.argsort(k - exact, kind="stable")[: n_test - k.sum()]] += 1
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c, k_c in zip(classes, k, strict=True):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:k_c])
        train.append(idx[k_c:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _option(cfg: Any, key: str, default: Any) -> Any:
    value = getattr(cfg, key, None)
    return default if value is None else value


def spec_problems(spec: Any, noise: float, n_features: int) -> list[str]:
    """What the dataset `spec` does not allow in these settings, each naming its key."""
    problems = []
    if not 0 <= noise <= spec.noise_max:
        problems.append(
            f"dataset.noise={noise} must be in [0, {spec.noise_max}] for dataset "
            f"{spec.name!r} ({spec.noise_kind} noise)"
        )
    if spec.fixed_features and n_features != 2:
        problems.append(
            f"dataset.n_features={n_features}: dataset {spec.name!r} has exactly 2 features"
        )
    if not spec.fixed_features and n_features < 2:
        problems.append(
            f"dataset.n_features={n_features}: dataset {spec.name!r} needs n_features >= 2 "
            "(2 informative + irrelevant ones)"
        )
    return problems


def make(cfg: Any, seed: int) -> Dataset:
    """Draw the dataset ``cfg.name`` (see the module docstring for ``noise`` and the split).

    ``cfg`` needs ``name`` and may have ``n_train``, ``n_test``, ``seed`` (None: use ``seed``),
    ``noise``, ``n_features``, ``faithful``; missing or None values take the spec's defaults.
    """
    spec = get_spec(str(cfg.name))
    n_train = _count(_option(cfg, "n_train", spec.defaults["n_train"]), "n_train", 1)
    n_test = _count(_option(cfg, "n_test", spec.defaults["n_test"]), "n_test", 0)
    noise = float(_option(cfg, "noise", spec.defaults["noise"]))
    n_features = _count(_option(cfg, "n_features", spec.defaults["n_features"]), "n_features", 1)
    faithful = bool(_option(cfg, "faithful", False))
    seed = int(_option(cfg, "seed", seed))

    problems = spec_problems(spec, noise, n_features)
    if problems:
        raise ValueError("; ".join(problems))

    truth = spec.faithful_truth if faithful and spec.faithful_truth is not None else spec.truth
    params = SampleParams(noise=noise, n_features=n_features, rule=truth)
    rng = np.random.default_rng(seed)
    if spec.split == "iid":
        x_train, y_train = spec.sample(rng, n_train, params)
        x_test, y_test = spec.sample(rng, n_test, params)
    else:
        x, y = spec.sample(rng, n_train + n_test, params)
        if spec.split == "stratified":
            train, test = stratified_split(rng, y, n_test)
        else:
            order = rng.permutation(n_train + n_test)
            train, test = order[:n_train], order[n_train:]
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]

    return Dataset(
        name=spec.name,
        task=spec.task,
        n_classes=spec.n_classes,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        domain=spec.domain,
        truth=truth,
    )
