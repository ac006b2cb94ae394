"""The masked MLP in Keras 3 / TensorFlow, and its conversion to and from a `Net`.

    x -> Dense(h_0, f) -> NodeMask -> ... -> Dense(h_{L-1}, f) -> NodeMask -> Dense(out, head)

A maxout hidden layer (`activation=maxout`, k = `maxout_k`) is Dense(h * k, linear) -> Maxout(k)
-> NodeMask(h): unit u is the maximum of the contiguous columns u*k .. u*k + k - 1, as in
`toynets.net`.

`NodeMask` holds one value per unit (1 = on) and multiplies the activations, as the
`on_nodes` input of DIGEST §1, for every hidden layer. `logits(model, x, masks)` evaluates the
net with masks given per call: continuous, broadcastable (a [units] vector, a [batch, units]
array, or a [M, 1, units] stack evaluating M masks at once) and differentiable with
`tf.GradientTape`. Training and analyses use `logits` and the losses below directly on the
model's variables, which keeps every compiled step free of Keras call overhead.

Heads: `softmax` (k units, sparse categorical cross-entropy, the two-unit head of §1),
`logit` (one unit, sigmoid cross-entropy), `linear` (one unit, mean squared error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from toynets.config import ConfigError, ModelConfig
from toynets.net import Layer, Net

HEAD_ACTIVATION = {"softmax": "softmax", "logit": "sigmoid", "linear": "linear"}
HEAD_FOR_ACTIVATION = {v: k for k, v in HEAD_ACTIVATION.items()}
LAST = "channels_last"  # plain_model's maxout pooling, whatever a user's keras.json says


@keras.saving.register_keras_serializable(package="toynets")
class NodeMask(keras.layers.Layer):
    """Multiplies each unit's activation by its mask value (non-trainable, default 1)."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.values = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=False, name="values"
        )

    def call(self, h: Any, node_mask: Any = None) -> Any:
        return h * (self.values if node_mask is None else node_mask)


@keras.saving.register_keras_serializable(package="toynets")
class Maxout(keras.layers.Layer):
    """Maximum over each contiguous group of k inputs: [..., units * k] -> [..., units]."""

    def __init__(self, k: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = int(k)

    def call(self, z: Any) -> Any:
        return tf_activate(z, "maxout", self.k)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        width = input_shape[-1]
        return (*input_shape[:-1], None if width is None else width // self.k)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}


def tf_activate(z: Any, name: str, k: int = 1) -> tf.Tensor:
    """f(z) in TensorFlow for a hidden activation of `toynets.net` (relu, sigmoid, tanh,
    linear; maxout: the maximum of each contiguous group of k values of the last axis)."""
    if name == "maxout":
        shape = tf.shape(z)
        groups = tf.concat([shape[:-1], [shape[-1] // k, k]], 0)
        return tf.reduce_max(tf.reshape(z, groups), axis=-1)
    if name == "relu":
        return tf.nn.relu(z)
    if name == "sigmoid":
        return tf.sigmoid(z)
    if name == "tanh":
        return tf.tanh(z)
    if name == "linear":
        return tf.identity(z)
    raise ValueError(f"unknown hidden activation {name!r}")


def resolve_head(head: str, task: str) -> str:
    """The head for a task: `auto` is softmax for classification, linear for regression."""
    if head == "auto":
        return "linear" if task == "regression" else "softmax"
    allowed = {"regression": ("linear",), "binary": ("softmax", "logit")}.get(task, ("softmax",))
    if head not in allowed:
        raise ConfigError(
            f"model.head={head!r} does not fit a {task} dataset; choose auto or one of "
            f"{', '.join(allowed)}"
        )
    return head


def output_units(head: str, n_classes: int) -> int:
    return n_classes if head == "softmax" else 1


def _initializer(name: str, seed: int) -> keras.initializers.Initializer:
    if name == "uniform":
        return keras.initializers.RandomUniform(-1.0, 1.0, seed=seed)
    if name == "normal":
        return keras.initializers.RandomNormal(0.0, 1.0, seed=seed)
    if name == "zeros":
        return keras.initializers.Zeros()
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})


def build(cfg: ModelConfig, n_inputs: int, head: str, n_classes: int, seed: int) -> keras.Model:
    """A fresh masked MLP; kernels from `cfg.initializer` times `cfg.init_scale`, biases 0.

    `uniform` is U(-1, 1) and `normal` N(0, 1) before scaling; the others are Keras' own.
    """
    x = keras.Input(shape=(n_inputs,), name="x")
    h = x
    maxout = cfg.activation == "maxout"
    for i, width in enumerate(cfg.hidden):
        h = keras.layers.Dense(
            width * cfg.maxout_k if maxout else width,
            activation="linear" if maxout else cfg.activation,
            kernel_initializer=_initializer(cfg.initializer, seed + i),
            name=f"dense_{i}",
        )(h)
        if maxout:
            h = Maxout(cfg.maxout_k, name=f"maxout_{i}")(h)
        h = NodeMask(name=f"mask_{i}")(h)
    out = keras.layers.Dense(
        output_units(head, n_classes),
        activation=HEAD_ACTIVATION[head],
        kernel_initializer=_initializer(cfg.initializer, seed + len(cfg.hidden)),
        name=f"dense_{len(cfg.hidden)}",
    )(h)
    model = keras.Model(x, out, name="mlp_" + "_".join(map(str, cfg.hidden or ["linear"])))
    if cfg.init_scale != 1.0:
        for layer in dense_layers(model):
            layer.kernel.assign(layer.kernel * cfg.init_scale)
    return model


def dense_layers(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def mask_layers(model: keras.Model) -> list[NodeMask]:
    return [layer for layer in model.layers if isinstance(layer, NodeMask)]


def hidden_activations(model: keras.Model) -> list[tuple[str, int]]:
    """(activation, k) of each hidden layer: ("maxout", k) for a Dense followed by `Maxout(k)`,
    else (the Dense's activation, 1)."""
    found: list[tuple[str, int]] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            found.append((layer.activation.__name__, 1))
        elif isinstance(layer, Maxout):
            found[-1] = ("maxout", layer.k)
    return found[:-1]


def logits(model: keras.Model, x: Any, masks: Sequence[Any] | None = None) -> tf.Tensor:
    """Output pre-activation z_L with hidden layer i multiplied by masks[i].

    masks=None uses the masks stored in the model's `NodeMask` layers; a None entry in the
    list does the same for that layer.
    """
    dense, stored, kinds = dense_layers(model), mask_layers(model), hidden_activations(model)
    h = tf.convert_to_tensor(x)
    for i, layer in enumerate(dense[:-1]):
        h = tf_activate(tf.matmul(h, layer.kernel) + layer.bias, *kinds[i])
        m = masks[i] if masks is not None and masks[i] is not None else stored[i].values
        h = h * tf.cast(m, h.dtype)
    return tf.matmul(h, dense[-1].kernel) + dense[-1].bias


def loss_per_example(head: str, y: Any, z: tf.Tensor) -> tf.Tensor:
    """Per-example loss from logits z: CE(softmax), CE(sigmoid) or squared error."""
    if head == "softmax":
        return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), z)
    if head == "logit":
        return tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(y, z.dtype), z[..., 0])
    return tf.square(z[..., 0] - tf.cast(y, z.dtype))


def correct(head: str, y: Any, z: tf.Tensor) -> tf.Tensor:
    """1.0 where the predicted class equals y (classification heads only)."""
    if head == "softmax":
        predicted = tf.argmax(z, axis=-1, output_type=tf.int32)
    else:
        predicted = tf.cast(z[..., 0] > 0, tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(y, tf.int32)), tf.float32)


def head_of(model: keras.Model) -> str:
    return HEAD_FOR_ACTIVATION[dense_layers(model)[-1].activation.__name__]


def to_net(model: keras.Model) -> Net:
    """The model's weights as a `Net` (the stored node masks are not part of a Net)."""
    dense = dense_layers(model)
    kinds = [*hidden_activations(model), (dense[-1].activation.__name__, 1)]
    return Net(
        tuple(
            Layer(np.array(layer.kernel.numpy()), np.array(layer.bias.numpy()), activation, k)
            for layer, (activation, k) in zip(dense, kinds, strict=True)
        )
    )


def plain_model(net: Net) -> keras.Model:
    """The Net as a Keras model of standard layers only (no `NodeMask`: all units on), the
    model logged to MLflow, which any Keras loads without toynets installed.

    A maxout layer is Dense(units * k, linear) -> Reshape((units * k, 1)) -> MaxPooling1D(k)
    -> Reshape((units,)): pooling windows of k, stride k, are the contiguous groups."""
    x = keras.Input(shape=(net.n_inputs,), name="x")
    h = x
    for i, layer in enumerate(net.layers):
        maxout = layer.activation == "maxout"
        dense = keras.layers.Dense(
            layer.W.shape[1], activation="linear" if maxout else layer.activation, name=f"dense_{i}"
        )
        h = dense(h)
        dense.set_weights([layer.W, layer.b])
        if maxout:
            h = keras.layers.Reshape((layer.W.shape[1], 1), name=f"maxout_{i}_groups")(h)
            pool = keras.layers.MaxPooling1D(layer.k, name=f"maxout_{i}", data_format=LAST)
            h = pool(h)
            h = keras.layers.Reshape((layer.units,), name=f"maxout_{i}_units")(h)
    return keras.Model(x, h, name="mlp_" + "_".join(map(str, net.hidden_sizes or ["linear"])))


def from_net(net: Net) -> keras.Model:
    """A Keras model holding the Net's weights (masks all on)."""
    hidden_acts = {layer.activation for layer in net.layers[:-1]}
    if len(hidden_acts) > 1:
        raise ValueError(f"hidden layers mix activations {sorted(hidden_acts)}; one is allowed")
    ks = {layer.k for layer in net.layers[:-1]}
    if len(ks) > 1:
        raise ValueError(f"hidden layers mix maxout group sizes {sorted(ks)}; one is allowed")
    cfg = ModelConfig(
        hidden=net.hidden_sizes,
        activation=hidden_acts.pop() if hidden_acts else "relu",
        maxout_k=ks.pop() if ks else 2,
    )
    head = HEAD_FOR_ACTIVATION[net.output_activation]
    model = build(cfg, net.n_inputs, head, net.n_outputs, seed=0)
    for layer, source in zip(dense_layers(model), net.layers, strict=True):
        layer.kernel.assign(source.W)
        layer.bias.assign(source.b)
    return model
