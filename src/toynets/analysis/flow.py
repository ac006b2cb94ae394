"""The flow of inputs through a net, neuron by neuron (DIGEST §4, the source's visFCNN).

Layer l takes the previous layer's activations a_l (a_0 = x) to the linear values
z_{l+1} = a_l W_l + b_l and the activations a_{l+1} = f_l(z_{l+1}); the output layer's are the
logits and the prediction. `layer_values` gives both for every layer, `colour_limits` the
ranges a diagram colours them with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toynets.net import Net, activate

COLOUR_NORMS = ("layer", "global", "symmetric")


@dataclass(frozen=True)
class LayerValues:
    """One layer's values at n inputs: the linear values z [n, columns] and the activations a
    [n, units] (a maxout unit is the maximum of its k columns)."""

    z: np.ndarray
    a: np.ndarray


def layer_values(net: Net, x: np.ndarray) -> list[LayerValues]:
    """z and a of every layer, hidden then output, at the inputs x [n, d] (float64)."""
    a = np.asarray(x, np.float64)
    values = []
    for layer in net.layers:
        z = a @ layer.W + layer.b
        a = activate(z, layer.activation, layer.k)
        values.append(LayerValues(z, a))
    return values


def colour_limits(values: list[np.ndarray], norm: str) -> list[tuple[float, float]]:
    """The (low, high) colour range of each of `values` (one array per column of a diagram):
    `layer`: its own min and max; `global`: the min and max over all; `symmetric`: -m .. m
    with m the largest |value| over all, so 0 sits in the middle of the palette. A range of
    zero width is widened by 1 on both sides."""
    if norm not in COLOUR_NORMS:
        raise ValueError(f"colour norm {norm!r} is not one of {', '.join(COLOUR_NORMS)}")
    lows = [float(np.min(v)) for v in values]
    highs = [float(np.max(v)) for v in values]
    if norm == "global":
        lows, highs = [min(lows)] * len(values), [max(highs)] * len(values)
    elif norm == "symmetric":
        m = max(max(abs(v) for v in lows), max(abs(v) for v in highs))
        lows, highs = [-m] * len(values), [m] * len(values)
    pairs = zip(lows, highs, strict=True)  # pragma: no mutate (equal lengths by construction)
    return [(lo - 1.0, hi + 1.0) if lo == hi else (lo, hi) for lo, hi in pairs]
