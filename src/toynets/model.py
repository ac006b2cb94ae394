"""The masked MLP in Keras 3 / TensorFlow, and its conversion to and from a `Net`.

    x -> Dense(h_0, f) -> NodeMask -> ... -> Dense(h_{L-1}, f) -> NodeMask -> Dense(out, head)

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


@keras.saving.register_keras_serializable(package="toynets")
class NodeMask(keras.layers.Layer):
    """Multiplies each unit's activation by its mask value (non-trainable, default 1)."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.values = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=False, name="values"
        )

    def call(self, h: Any, node_mask: Any = None) -> Any:
        return h * (self.values if node_mask is None else node_mask)


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
    for i, width in enumerate(cfg.hidden):
        h = keras.layers.Dense(
            width,
            activation=cfg.activation,
            kernel_initializer=_initializer(cfg.initializer, seed + i),
            name=f"dense_{i}",
        )(h)
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


def _tf_activation(name: str) -> Any:
    return {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh}.get(name, tf.identity)


def logits(model: keras.Model, x: Any, masks: Sequence[Any] | None = None) -> tf.Tensor:
    """Output pre-activation z_L with hidden layer i multiplied by masks[i].

    masks=None uses the masks stored in the model's `NodeMask` layers; a None entry in the
    list does the same for that layer.
    """
    dense, stored = dense_layers(model), mask_layers(model)
    h = tf.convert_to_tensor(x)
    for i, layer in enumerate(dense[:-1]):
        h = _tf_activation(layer.activation.__name__)(tf.matmul(h, layer.kernel) + layer.bias)
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
    return Net(
        tuple(
            Layer(
                np.array(layer.kernel.numpy()),
                np.array(layer.bias.numpy()),
                layer.activation.__name__,
            )
            for layer in dense_layers(model)
        )
    )


def plain_model(net: Net) -> keras.Model:
    """The Net as a Keras model of standard `Dense` layers only (no `NodeMask`: all units on),
    the model logged to MLflow, which any Keras loads without toynets installed."""
    x = keras.Input(shape=(net.n_inputs,), name="x")
    h = x
    for i, layer in enumerate(net.layers):
        dense = keras.layers.Dense(layer.W.shape[1], activation=layer.activation, name=f"dense_{i}")
        h = dense(h)
        dense.set_weights([layer.W, layer.b])
    return keras.Model(x, h, name="mlp_" + "_".join(map(str, net.hidden_sizes or ["linear"])))


def from_net(net: Net) -> keras.Model:
    """A Keras model holding the Net's weights (masks all on)."""
    hidden_acts = {layer.activation for layer in net.layers[:-1]}
    if len(hidden_acts) > 1:
        raise ValueError(f"hidden layers mix activations {sorted(hidden_acts)}; one is allowed")
    cfg = ModelConfig(
        hidden=net.hidden_sizes, activation=hidden_acts.pop() if hidden_acts else "relu"
    )
    head = HEAD_FOR_ACTIVATION[net.output_activation]
    model = build(cfg, net.n_inputs, head, net.n_outputs, seed=0)
    for layer, source in zip(dense_layers(model), net.layers, strict=True):
        layer.kernel.assign(source.W)
        layer.bias.assign(source.b)
    return model
