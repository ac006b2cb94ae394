"""`Net`: a multilayer perceptron as plain weight arrays, the form every analysis reads.

Layer i computes a_{i+1} = f_i(a_i W_i + b_i) with W_i of shape [fan_in, fan_out]. A node mask
m_i (one value per unit of hidden layer i, 1 = on, 0 = removed, anything in between allowed)
multiplies the layer's activations: a_{i+1} = m_i * f_i(a_i W_i + b_i), the `on_nodes` of
DIGEST §1 for any depth. For ReLU and m in {0, 1}, m relu(z) = relu(m z).

This module is NumPy only; `toynets.model` converts to and from Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")


def activate(z: np.ndarray, name: str) -> np.ndarray:
    """f(z) for the activations a `Net` may hold (softmax over the last axis)."""
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
    W: np.ndarray  # [fan_in, fan_out]
    b: np.ndarray  # [fan_out]
    activation: str


@dataclass(frozen=True)
class Net:
    """A trained MLP as arrays: hidden layers then one output layer."""

    layers: tuple[Layer, ...]

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.W.shape[1] for layer in self.layers[:-1]]

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
            a = activate(a @ layer.W + layer.b, layer.activation)
            if masks is not None and masks[i] is not None:
                a = a * masks[i]
        return a @ self.layers[-1].W + self.layers[-1].b

    def predict(
        self, x: np.ndarray, masks: Sequence[np.ndarray | None] | None = None
    ) -> np.ndarray:
        """The network's output f_L(z_L): class probabilities or regression values."""
        return activate(self.logits(x, masks), self.output_activation)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """`W0, b0, W1, b1, ...` (float32) and `activations` (strings): the final.npz contract."""
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            arrays[f"W{i}"] = layer.W.astype(np.float32)
            arrays[f"b{i}"] = layer.b.astype(np.float32)
        arrays["activations"] = np.array([layer.activation for layer in self.layers])
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile) -> Net:
        activations = [str(a) for a in arrays["activations"]]
        layers = tuple(
            Layer(np.asarray(arrays[f"W{i}"]), np.asarray(arrays[f"b{i}"]), act)
            for i, act in enumerate(activations)
        )
        for i, layer in enumerate(layers):
            if layer.W.shape[1] != layer.b.shape[0]:
                raise ValueError(
                    f"layer {i}: W{i} {layer.W.shape} does not fit b{i} {layer.b.shape}"
                )
            if i and layers[i - 1].W.shape[1] != layer.W.shape[0]:
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
