"""`Net`: a multilayer perceptron as plain weight arrays, the form every analysis reads.

Layer i computes a_{i+1} = f_i(a_i W_i + b_i) with W_i of shape [fan_in, fan_out]. A node mask
m_i (one value per unit of hidden layer i, 1 = on, 0 = removed, anything in between allowed)
multiplies the layer's activations: a_{i+1} = m_i * f_i(a_i W_i + b_i), the `on_nodes` of
DIGEST §1 for any depth. For ReLU and m in {0, 1}, m relu(z) = relu(m z).

A `maxout` layer (Goodfellow et al. 2013) has k pre-activations per unit: W is
[fan_in, units * k], unit u is the maximum of columns u*k .. u*k + k - 1 (contiguous groups),
so it outputs `units` values. Every other activation has k = 1.

This module is NumPy only; `toynets.model` converts to and from Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "maxout")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")


def activate(z: np.ndarray, name: str, k: int = 1) -> np.ndarray:
    """f(z) for the activations a `Net` may hold (softmax over the last axis; maxout: the
    maximum of each contiguous group of k values of the last axis)."""
    if name == "maxout":
        return np.asarray(z).reshape(*np.shape(z)[:-1], -1, k).max(axis=-1)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}")


def unit_labels(hidden_sizes: Sequence[int]) -> list[str]:
    """Names of the hidden units in flat (mask) order: `i` for one hidden layer, `layer:index`
    for several."""
    if len(hidden_sizes) == 1:
        return [str(i) for i in range(hidden_sizes[0])]
    return [f"{layer}:{i}" for layer, width in enumerate(hidden_sizes) for i in range(width)]


@dataclass(frozen=True)
class Layer:
    W: np.ndarray  # [fan_in, units * k]
    b: np.ndarray  # [units * k]
    activation: str
    k: int = 1  # pre-activations per unit (maxout group size; 1 for every other activation)

    @property
    def units(self) -> int:
        return self.W.shape[1] // self.k

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """f(a W + b): the layer's output for inputs a [..., fan_in]."""
        return activate(np.asarray(a, np.float64) @ self.W + self.b, self.activation, self.k)


@dataclass(frozen=True)
class Net:
    """A trained MLP as arrays: hidden layers then one output layer."""

    layers: tuple[Layer, ...]

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.units for layer in self.layers[:-1]]

    @property
    def n_inputs(self) -> int:
        return self.layers[0].W.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].W.shape[1]

    @property
    def output_activation(self) -> str:
        return self.layers[-1].activation

    def logits(self, x: np.ndarray, masks: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """Output pre-activation z_L; masks[i] multiplies hidden layer i (broadcasts)."""
        a = np.asarray(x, dtype=np.float64)
        for i, layer in enumerate(self.layers[:-1]):
            a = layer(a)
            if masks is not None and masks[i] is not None:
                a = a * masks[i]
        return a @ self.layers[-1].W + self.layers[-1].b

    def predict(
        self, x: np.ndarray, masks: Sequence[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """The network's output f_L(z_L): class probabilities or regression values."""
        return activate(self.logits(x, masks), self.output_activation)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """`W0, b0, W1, b1, ...` (float32), `activations` (strings) and, for a net with a maxout
        layer, `maxout_k` (k per layer, 1 for the others): the final.npz contract."""
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            arrays[f"W{i}"] = layer.W.astype(np.float32)
            arrays[f"b{i}"] = layer.b.astype(np.float32)
        arrays["activations"] = np.array([layer.activation for layer in self.layers])
        if any(layer.k != 1 for layer in self.layers):
            arrays["maxout_k"] = np.array([layer.k for layer in self.layers])
        return arrays

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile, prefix: str = ""
    ) -> Net:
        """The net of `to_arrays`' arrays, each key read as `prefix` + its name (several nets
        in one file: the pruning study's `data/pruning.npz`)."""
        activations = [str(a) for a in arrays[f"{prefix}activations"]]
        ks = (
            [int(k) for k in arrays[f"{prefix}maxout_k"]]
            if f"{prefix}maxout_k" in arrays
            else [1] * len(activations)
        )
        layers = tuple(
            Layer(np.asarray(arrays[f"{prefix}W{i}"]), np.asarray(arrays[f"{prefix}b{i}"]), act, k)
            for i, (act, k) in enumerate(zip(activations, ks, strict=True))
        )
        for i, layer in enumerate(layers):
            if layer.W.shape[1] % layer.k:
                raise ValueError(
                    f"layer {i}: W{i} {layer.W.shape} is not a whole number of "
                    f"maxout groups of {layer.k}"
                )
            if layer.W.shape[1] != layer.b.shape[0]:
                raise ValueError(
                    f"layer {i}: W{i} {layer.W.shape} does not fit b{i} {layer.b.shape}"
                )
            if i and layers[i - 1].units != layer.W.shape[0]:
                raise ValueError(f"layer {i}: W{i} {layer.W.shape} does not follow W{i - 1}")
        return cls(layers)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(path, **self.to_arrays())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Net:
        with np.load(path, allow_pickle=False) as arrays:
            return cls.from_arrays(dict(arrays))
