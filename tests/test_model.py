"""The masked MLP against an independent NumPy forward pass and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from toynets.config import ConfigError, ModelConfig
from toynets.model import build, from_net, head_of, logits, loss_per_example, resolve_head, to_net
from toynets.net import Net

ACT = {
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "linear": lambda z: z,
}


def reference_logits(
    weights: list[np.ndarray], activation: str, x: np.ndarray, masks
) -> np.ndarray:
    """Written out layer by layer: a_{i+1} = m_i * f(a_i W_i + b_i); z = a_L W_L + b_L."""
    a = x.astype(np.float64)
    n_hidden = len(weights) // 2 - 1
    for i in range(n_hidden):
        a = ACT[activation](a @ weights[2 * i] + weights[2 * i + 1]) * masks[i]
    return a @ weights[-2] + weights[-1]


def random_model(hidden: list[int], activation: str, head: str = "softmax", seed: int = 0):
    model = build(
        ModelConfig(hidden=hidden, activation=activation, initializer="normal"),
        3,
        head,
        3 if head == "softmax" else 1,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:  # non-zero biases so they matter
        var.assign(rng.normal(size=var.shape).astype(np.float32))
    return model


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("hidden", [[5], [6, 4], [3, 4, 2]])
def test_masked_forward_equals_numpy(hidden: list[int], activation: str) -> None:
    model = random_model(hidden, activation)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(17, 3)).astype(np.float32)
    weights = [v.numpy() for v in model.trainable_variables]
    for continuous in (False, True):
        masks = [
            rng.uniform(0, 1.5, size=w) if continuous else (rng.random(w) < 0.5).astype(float)
            for w in hidden
        ]
        got = logits(model, x, [m.astype(np.float32) for m in masks]).numpy()
        expected = reference_logits(weights, activation, x, masks)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(to_net(model).logits(x, masks), expected, rtol=1e-5, atol=1e-5)


def test_stored_masks_and_per_call_masks_agree() -> None:
    model = random_model([4, 3], "relu")
    x = np.random.default_rng(2).normal(size=(8, 3)).astype(np.float32)
    m0, m1 = np.array([1, 0, 1, 0.5], np.float32), np.array([0, 1, 1], np.float32)
    per_call = logits(model, x, [m0, m1]).numpy()
    model.get_layer("mask_0").values.assign(m0)
    model.get_layer("mask_1").values.assign(m1)
    np.testing.assert_allclose(logits(model, x).numpy(), per_call, rtol=1e-6)
    np.testing.assert_allclose(model(x).numpy(), tf.nn.softmax(per_call).numpy(), rtol=1e-5)


def test_many_masks_in_one_call_broadcast() -> None:
    model = random_model([6], "relu")
    x = np.random.default_rng(3).normal(size=(10, 3)).astype(np.float32)
    masks = (np.random.default_rng(4).random((7, 1, 6)) < 0.5).astype(np.float32)
    stacked = logits(model, x, [masks]).numpy()  # [7, 10, 3]
    assert stacked.shape == (7, 10, 3)
    for k in range(7):
        np.testing.assert_allclose(stacked[k], logits(model, x, [masks[k, 0]]).numpy(), rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mask_gradient_equals_finite_difference(activation: str) -> None:
    model = random_model([5, 4], activation)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    masks = [rng.uniform(0.2, 1.0, size=5), rng.uniform(0.2, 1.0, size=4)]
    weights = [v.numpy().astype(np.float64) for v in model.trainable_variables]

    def loss_np(ms) -> float:
        z = reference_logits(weights, activation, x, ms)
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))

    tf_masks = [tf.Variable(m.astype(np.float32)) for m in masks]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(loss_per_example("softmax", y, logits(model, x, tf_masks)))
    grads = tape.gradient(loss, tf_masks)
    h = 1e-5
    for layer, mask in enumerate(masks):
        for unit in range(len(mask)):
            plus = [m.copy() for m in masks]
            minus = [m.copy() for m in masks]
            plus[layer][unit] += h
            minus[layer][unit] -= h
            fd = (loss_np(plus) - loss_np(minus)) / (2 * h)
            assert grads[layer].numpy()[unit] == pytest.approx(fd, abs=2e-4, rel=2e-3)


@pytest.mark.parametrize("head", ["softmax", "logit", "linear"])
def test_net_round_trip_through_keras_and_npz(head: str, tmp_path) -> None:
    model = random_model([4, 3], "tanh", head=head)
    net = to_net(model)
    assert net.hidden_sizes == [4, 3] and head_of(model) == head
    path = net.save(tmp_path / "final.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["W0", "W1", "W2", "activations", "b0", "b1", "b2"]
        assert npz["W0"].dtype == np.float32 and npz["W0"].shape == (3, 4)
        assert list(npz["activations"]) == ["tanh", "tanh", net.output_activation]
    again = from_net(Net.load(path))
    x = np.random.default_rng(6).normal(size=(9, 3)).astype(np.float32)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(net.predict(x), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_no_hidden_layer_is_logistic_regression() -> None:
    model = build(ModelConfig(hidden=[]), 15, "logit", 2, seed=0)
    net = to_net(model)
    assert net.hidden_sizes == [] and net.output_activation == "sigmoid"
    x = np.random.default_rng(7).normal(size=(5, 15)).astype(np.float32)
    expected = 1 / (1 + np.exp(-(x @ net.layers[0].W + net.layers[0].b)))
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5)


def test_init_scale_multiplies_kernels() -> None:
    base = build(ModelConfig(hidden=[8]), 2, "softmax", 2, seed=3)
    scaled = build(ModelConfig(hidden=[8], init_scale=3.0), 2, "softmax", 2, seed=3)
    np.testing.assert_allclose(
        scaled.get_layer("dense_0").kernel.numpy(), 3.0 * base.get_layer("dense_0").kernel.numpy()
    )


def test_heads_fit_tasks() -> None:
    assert resolve_head("auto", "binary") == "softmax"
    assert resolve_head("auto", "regression") == "linear"
    assert resolve_head("logit", "binary") == "logit"
    with pytest.raises(ConfigError, match="model.head='logit' does not fit a multiclass"):
        resolve_head("logit", "multiclass")
    with pytest.raises(ConfigError, match="regression"):
        resolve_head("softmax", "regression")
