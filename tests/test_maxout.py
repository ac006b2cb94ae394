"""Maxout hidden layers (`model.activation=maxout`, `model.maxout_k`) end to end: the NumPy
`Net`, the Keras model, the plain model logged to MLflow, the config checks, the memory
estimate, the node-removal analyses, the explorer page and real jobs, each against a reference
written here (unit u of a layer is the maximum of its columns u*k .. u*k + k - 1)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import compose_config, run_cli, user_env
from toynets.config import ConfigError, ModelConfig, validate
from toynets.net import Layer, Net


def maxout_reference(z: np.ndarray, k: int) -> np.ndarray:
    """Unit u = max over columns u*k .. u*k + k - 1, written as a loop over the units."""
    z = np.asarray(z, np.float64)
    units = z.shape[-1] // k
    return np.stack([z[..., u * k : (u + 1) * k].max(-1) for u in range(units)], -1)


def reference_logits(net: Net, x: np.ndarray, masks=None) -> np.ndarray:
    """The masked forward pass spelled out: maxout by `maxout_reference`, relu by hand."""
    a = np.asarray(x, np.float64)
    for i, layer in enumerate(net.layers[:-1]):
        z = a @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        if layer.activation == "maxout":
            a = maxout_reference(z, layer.k)
        else:
            assert layer.activation == "relu"
            a = np.maximum(z, 0)
        if masks is not None:
            a = a * masks[i]
    out = net.layers[-1]
    return a @ out.W.astype(np.float64) + out.b.astype(np.float64)


def random_maxout_net(hidden: list[int], k: int, n_in: int = 2, n_out: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    layers, fan_in = [], n_in
    for width in hidden:
        W = rng.normal(size=(fan_in, width * k)).astype(np.float32)
        layers.append(Layer(W, rng.normal(size=width * k).astype(np.float32), "maxout", k))
        fan_in = width
    W = rng.normal(size=(fan_in, n_out)).astype(np.float32)
    out = "softmax" if n_out > 1 else "sigmoid"
    layers.append(Layer(W, rng.normal(size=n_out).astype(np.float32), out))
    return Net(tuple(layers))


def softmax_ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy of softmax(z) [n, K] for labels y [n] (log-sum-exp written out)."""
    top = z.max(-1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(-1))
    return lse - z[np.arange(len(z)), np.asarray(y).reshape(-1)]


# ---- the NumPy net ------------------------------------------------------------------------------


def test_net_forward_of_a_maxout_layer_by_hand() -> None:
    # One input, 2 units of k = 2: columns (0, 1) and (2, 3).
    hidden = Layer(np.array([[1.0, -1.0, 2.0, 0.5]]), np.array([0.0, 0.5, -1.0, 0.0]), "maxout", 2)
    out = Layer(np.array([[1.0], [2.0]]), np.array([0.1]), "linear")
    net = Net((hidden, out))
    x = np.array([[1.0], [-2.0]])
    # x = 1: z = [1, -0.5, 1, 0.5] -> units [1, 1]; x = -2: z = [-2, 2.5, -5, -1] -> [2.5, -1]
    np.testing.assert_array_equal(hidden(x), [[1.0, 1.0], [2.5, -1.0]])
    assert net.hidden_sizes == [2] and hidden.units == 2
    np.testing.assert_allclose(net.logits(x), [[3.1], [0.6]])
    np.testing.assert_allclose(net.logits(x, [np.array([1.0, 0.0])]), [[1.1], [2.6]])


def test_net_arrays_round_trip_keeps_k(tmp_path: Path) -> None:
    net = random_maxout_net([4, 3], k=3)
    arrays = net.to_arrays()
    assert list(arrays["maxout_k"]) == [3, 3, 1]
    assert arrays["W0"].shape == (2, 12) and arrays["W1"].shape == (4, 9)
    back = Net.load(net.save(tmp_path / "final.npz"))
    assert [(la.activation, la.k) for la in back.layers] == [
        ("maxout", 3),
        ("maxout", 3),
        ("softmax", 1),
    ]
    x = np.random.default_rng(1).normal(size=(9, 2))
    np.testing.assert_array_equal(back.logits(x), net.logits(x))
    # A plain net writes no maxout_k (the final.npz of every run before maxout stays as it was).
    assert "maxout_k" not in Net((Layer(np.ones((2, 3)), np.zeros(3), "relu"),)).to_arrays()
    bad = dict(arrays, W0=arrays["W0"][:, :11], b0=arrays["b0"][:11])
    with pytest.raises(ValueError, match="maxout groups of 3"):
        Net.from_arrays(bad)


# ---- the Keras model ----------------------------------------------------------------------------


def built(hidden: list[int], k: int, seed: int = 0):
    from toynets.model import build

    model = build(
        ModelConfig(hidden=hidden, activation="maxout", maxout_k=k, initializer="normal"),
        2,
        "softmax",
        2,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:  # non-zero biases so they matter
        var.assign(rng.normal(size=var.shape).astype(np.float32))
    return model


@pytest.mark.parametrize(("hidden", "k"), [([5], 2), ([4, 3], 3)])
def test_keras_logits_equal_the_net_and_the_reference(hidden: list[int], k: int) -> None:
    from toynets.model import Maxout, dense_layers, head_of, logits, to_net

    model = built(hidden, k)
    assert [layer.units for layer in dense_layers(model)] == [w * k for w in hidden] + [2]
    assert [layer.k for layer in model.layers if isinstance(layer, Maxout)] == [k] * len(hidden)
    assert head_of(model) == "softmax"
    net = to_net(model)
    assert [(la.activation, la.k) for la in net.layers[:-1]] == [("maxout", k)] * len(hidden)
    assert net.hidden_sizes == hidden
    rng = np.random.default_rng(2)
    x = rng.normal(size=(31, 2)).astype(np.float32)
    np.testing.assert_allclose(logits(model, x).numpy(), net.logits(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        logits(model, x).numpy(), reference_logits(net, x), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(model(x).numpy(), net.predict(x), rtol=1e-5, atol=1e-6)
    # Continuous masks, a stack of M = 4 of them evaluated at once.
    masks = [rng.uniform(0, 1.5, size=(4, 1, w)).astype(np.float32) for w in hidden]
    np.testing.assert_allclose(
        logits(model, x, masks).numpy(), reference_logits(net, x, masks), rtol=1e-5, atol=1e-5
    )


def test_keras_mask_gradient_flows_through_maxout() -> None:
    import tensorflow as tf

    from toynets.model import logits, to_net

    model = built([3], 2, seed=4)
    net = to_net(model)
    x = np.random.default_rng(5).normal(size=(6, 2)).astype(np.float32)
    m = tf.Variable(np.ones(3, np.float32))
    with tf.GradientTape() as tape:
        z = tf.reduce_sum(logits(model, x, [m])[:, 1])
    # z is linear in m: dz/dm_u = sum_j h_u(x_j) W1[u, 1].
    h = maxout_reference(x.astype(np.float64) @ net.layers[0].W + net.layers[0].b, 2)
    expected = h.sum(0) * net.layers[1].W[:, 1]
    np.testing.assert_allclose(tape.gradient(z, m).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_to_net_from_net_round_trip() -> None:
    from toynets.model import Maxout, from_net, to_net

    net = random_maxout_net([4, 3], k=3, seed=7)
    model = from_net(net)
    assert [layer.k for layer in model.layers if isinstance(layer, Maxout)] == [3, 3]
    again = to_net(model)
    for a, b in zip(net.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)
        assert (a.activation, a.k) == (b.activation, b.k)
    mixed = Net((*net.layers[:1], Layer(np.ones((4, 6)), np.zeros(6), "maxout", 2), net.layers[2]))
    with pytest.raises(ValueError, match="group sizes"):
        from_net(mixed)


def test_tf_activate_is_the_one_helper_of_model_and_analysis() -> None:
    import tensorflow as tf

    from toynets.analysis import node_removal as nr
    from toynets.model import tf_activate

    assert not hasattr(nr, "_activate")
    z = np.random.default_rng(0).normal(size=(2, 3, 12))
    for k in (2, 3, 4):
        np.testing.assert_allclose(tf_activate(tf.constant(z), "maxout", k), maxout_reference(z, k))
    np.testing.assert_allclose(tf_activate(tf.constant(z), "relu"), np.maximum(z, 0))
    with pytest.raises(ValueError, match="swish"):
        tf_activate(tf.constant(z), "swish")


LOAD_PLAIN = """
import json, sys
import keras, numpy as np
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
kinds = {type(layer).__module__.split(".")[0] for layer in model.layers}
print(json.dumps({"y": np.asarray(model(x)).tolist(), "layers": sorted(kinds),
                  "toynets": sorted(m for m in sys.modules if m.split(".")[0] == "toynets")}))
"""


def test_plain_model_loads_without_toynets(tmp_path: Path) -> None:
    """plain_model(net), saved as .keras, loads in a fresh Python that never imports toynets
    (no custom objects) and predicts what the Net predicts."""
    from toynets.model import plain_model

    net = random_maxout_net([4, 3], k=3, seed=3)
    model = plain_model(net)
    x = np.random.default_rng(8).normal(size=(40, 2)).astype(np.float32)
    np.testing.assert_allclose(model(x).numpy(), net.predict(x), rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "plain.keras")
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_PLAIN, str(tmp_path / "plain.keras"), str(tmp_path / "x.npy")],
        cwd=tmp_path,
        env=user_env({"TF_CPP_MIN_LOG_LEVEL": "3"}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["toynets"] == [] and answer["layers"] == ["keras"]
    np.testing.assert_allclose(np.array(answer["y"]), net.predict(x), rtol=1e-5, atol=1e-6)


# ---- config and memory estimate -----------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 0])
def test_maxout_k_below_two_is_refused_before_any_run(k: int, tmp_path: Path) -> None:
    from toynets.app import run_job

    (tmp_path / "mlruns").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    overrides = ["model.activation=maxout", f"model.maxout_k={k}", f"tracking.uri={uri}"]
    with pytest.raises(ConfigError) as error:
        run_job(compose_config(overrides))
    assert f"model.maxout_k={k} must be >= 2 with model.activation=maxout" in str(error.value)
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()
    # The key is only read by maxout: any other activation ignores it.
    validate(compose_config(["model.activation=relu", f"model.maxout_k={k}"]))


def test_maxout_is_an_allowed_activation_and_documented() -> None:
    with pytest.raises(ConfigError, match="relu, sigmoid, tanh, linear, maxout"):
        validate(compose_config(["model.activation=swish"]))
    config = validate(compose_config(["model.activation=maxout"]))
    assert config.model.maxout_k == 2
    text = (Path(__file__).parents[1] / "conf" / "model" / "mlp.yaml").read_text()
    assert re.search(r"^maxout_k: 2 +# maxout only", text, re.M)


def test_memory_estimate_counts_the_k_pre_activations() -> None:
    from toynets.budget import estimate, n_weights

    # 2 -> 20 maxout (k = 3) -> 2: (2 + 1) * 60 + (20 + 1) * 2 = 222; k = 1 is the plain count.
    assert n_weights([2, 20, 2], 3) == 222 and n_weights([2, 20, 2], 1) == 102
    assert n_weights([3, 4, 5, 1], 2) == 4 * 8 + 5 * 10 + 6  # 88

    def parts(overrides: list[str]) -> dict[str, tuple]:
        config = validate(compose_config(["study=train", "model.hidden=[4,3]", *overrides]))
        return {p.what: (p.nbytes, p.keys) for p in estimate(config)}

    relu, maxout = parts([]), parts(["model.activation=maxout", "model.maxout_k=3"])
    weights = n_weights([2, 4, 3, 2], 3)  # 3*12 + 5*9 + 4*2 = 89
    assert weights == 89
    assert maxout["the weights and optimizer state"] == (
        89 * 24,
        ("model.hidden", "model.maxout_k"),
    )
    assert relu["the weights and optimizer state"] == (
        n_weights([2, 4, 3, 2]) * 24,
        ("model.hidden",),
    )
    # 32 points x (21 pre-activations + 7 units) x 8 bytes; relu: 7 + 7
    assert maxout["the training activations"][0] == 32 * (21 + 7) * 8
    assert relu["the training activations"][0] == 32 * 7 * 16


# ---- node-removal analyses ----------------------------------------------------------------------


def masked_loss(net: Net, x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    start, masks = 0, []
    for width in net.hidden_sizes:
        masks.append(mask[start : start + width])
        start += width
    return float(softmax_ce(reference_logits(net, x, masks), y).mean())


@pytest.mark.parametrize("hidden", [[4], [3, 2]])  # the linear form and the deep forward pass
def test_node_removal_analyses_on_maxout_nets(hidden: list[int]) -> None:
    from toynets.analysis import node_removal as nr

    net = random_maxout_net(hidden, k=3, seed=11)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(50, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    n = sum(hidden)
    assert nr.n_units(net) == n
    enumeration = nr.enumerate_masks(net, x, y)
    for s in range(1 << n):
        expected = masked_loss(net, x, y, nr.masks_of(np.array([s]), n)[0])
        assert enumeration.loss[s] == pytest.approx(expected, rel=1e-4, abs=1e-5), s
    masks = rng.uniform(0, 1, size=(6, n)).astype(np.float32)
    loss, grad = nr.loss_and_grad(net, x, y, masks)
    step = 1e-3
    for j, mask in enumerate(masks):
        assert loss[j] == pytest.approx(masked_loss(net, x, y, mask), rel=1e-4)
        for i in range(n):
            up, down = mask.astype(np.float64), mask.astype(np.float64)
            up[i] += step
            down[i] -= step
            fd = (masked_loss(net, x, y, up) - masked_loss(net, x, y, down)) / (2 * step)
            assert grad[j, i] == pytest.approx(fd, rel=1e-2, abs=1e-4), (j, i)
    point_loss, point_grad = nr.per_point_gradient(net, x[:5], y[:5])
    assert point_grad.shape == (5, n)
    ones = np.ones(n)
    for j in range(5):
        assert point_loss[j] == pytest.approx(
            masked_loss(net, x[j : j + 1], y[j : j + 1], ones), rel=1e-4
        )
        for i in range(n):
            up, down = ones.copy(), ones.copy()
            up[i] += step
            down[i] -= step
            fd = (
                masked_loss(net, x[j : j + 1], y[j : j + 1], up)
                - masked_loss(net, x[j : j + 1], y[j : j + 1], down)
            ) / (2 * step)
            assert point_grad[j, i] == pytest.approx(fd, rel=1e-2, abs=1e-4), (j, i)


# ---- the explorer page --------------------------------------------------------------------------


def test_explorer_page_computes_maxout_in_the_browser(tmp_path: Path, chromium) -> None:
    from toynets.explorer import node_removal_html

    net = random_maxout_net([4, 3], k=3, seed=21)
    rng = np.random.default_rng(22)
    x = rng.uniform(-1, 1, size=(120, 2)).astype(np.float32)
    y = ((x**2).sum(1) > 2 / np.pi).astype(np.int64)
    html = node_removal_html(net, x, y, (-2, 2, -2, 2), title="maxout", grid=24)
    assert "4 maxout (k=3) → 3 maxout (k=3) → 2 softmax" in html
    path = tmp_path / "node_removal.html"
    path.write_text(html, encoding="utf-8")
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri(), timeout=15_000)
        page.wait_for_selector("html[data-ready]", state="attached", timeout=10_000)
        assert page.locator("button.unit").count() == 7
        assert "maxout (k=3) · 4 units" in page.inner_text("#unit-layers")
        for mask in (np.ones(7), np.array([1, 0, 1, 1, 0, 1, 1.0]), rng.uniform(0, 1, 7)):
            page.evaluate("m => window.toynets.setMask(m)", mask.tolist())
            loss = page.evaluate("window.toynets.loss()")
            assert loss == pytest.approx(masked_loss(net, x, y, mask), abs=1e-5)
            accuracy = page.evaluate("window.toynets.accuracy()")
            z = reference_logits(net, x, [mask[:4], mask[4:]])
            assert accuracy == pytest.approx(float((z.argmax(1) == y).mean()))
        assert not errors
    finally:
        context.close()


# ---- real jobs ----------------------------------------------------------------------------------


def test_cli_trains_a_maxout_net_on_circle(tmp_path: Path) -> None:
    from toynets import runs

    (tmp_path / "mlruns").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    result = run_cli(
        "study=train",
        "dataset=circle",
        "model.activation=maxout",
        "model.maxout_k=3",
        "model.hidden=[8]",
        "train.epochs=3",
        "study.grid=20",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_id,) = re.findall(r"toynets: run (\w+) logged", result.stdout)
    run = runs.load(run_id, uri=uri, dst=tmp_path / "run")
    assert run.status == "FINISHED"
    assert run.params["model.activation"] == "maxout" and run.params["model.maxout_k"] == "3"
    assert run.net.hidden_sizes == [8]
    assert (run.net.layers[0].activation, run.net.layers[0].k) == ("maxout", 3)
    assert run.net.layers[0].W.shape == (2, 24)
    from toynets import data as datasets

    test = datasets.make(validate(compose_config(["dataset=circle"])).dataset, 0)
    accuracy = float((run.net.predict(test.x_test).argmax(1) == test.y_test).mean())
    assert accuracy == pytest.approx(run.metrics["final/test_accuracy"], abs=1e-6)
    assert accuracy > 0.7  # three epochs learn the circle well past chance
    x = test.x_test[:64]
    np.testing.assert_allclose(run.model()(x).numpy(), run.net.predict(x), rtol=1e-5, atol=1e-6)


def test_node_removal_study_on_a_tiny_maxout_net(tmp_path: Path) -> None:
    from toynets import runs
    from toynets.app import run_job

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose_config(
        [
            "study=node_removal",
            "model.activation=maxout",
            "model.maxout_k=3",
            "model.hidden=[4]",
            "train.epochs=2",
            "study.n_masks=50",
            "study.n_paths=20",
            "study.grid=20",
            "study.map_grid=16",
            "study.test_size=100",
            "study.n_random_subsets=1",
            "study.subsets=[[0]]",
            "tracking.log_model=false",
            f"tracking.uri={uri}",
        ]
    )
    run = runs.load(run_job(cfg).run_id, uri=uri, dst=tmp_path / "run")
    assert run.status == "FINISHED"
    exact = run.arrays("node_removal_exact")
    assert exact["loss"].shape == (16,)
    mc = run.arrays("node_removal_mc")
    x, y = mc["x_test"], mc["y_test"]
    for s in (0, 5, 15):
        mask = ((s >> np.arange(4)) & 1).astype(np.float64)
        assert exact["loss"][s] == pytest.approx(masked_loss(run.net, x, y, mask), rel=1e-4)
    assert "node_removal.html" in run.files
    assert "4 maxout (k=3)" in Path(run.files["node_removal.html"]).read_text(encoding="utf-8")
