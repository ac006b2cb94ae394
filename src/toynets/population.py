"""K nets of one architecture as stacked tensors, and the compiled functions that train them.

A population holds every member's weights with a leading member axis: kernel i is
[K, fan_in, fan_out] and bias i [K, fan_out], so a forward pass is one batched matmul per
layer. Hidden widths that differ are padded to the widest with zero weights and a 0 in the
member's node mask: a padded unit outputs 0, so its weights get zero gradients and stay 0, and
the member computes exactly what its own net computes. Each member has its own data (same
sizes), batch order, learning rate and optimizer state. A single job is a population of one.

The optimizers are Keras' update rules written out on stacked tensors, in Keras' order of
operations (keras/src/optimizers/{adam,rmsprop,sgd}.py with their defaults), with a learning
rate per member:

    adam     m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);
             w -= m lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)
    rmsprop  v = rho v + (1 - rho) g^2;  w -= lr g / sqrt(v + eps)
    sgd      w -= g lr

and one that uses no gradient, the random walk of DIGEST §5's companion notebook:

    random_walk  w' = w + lr s, s in {-1, 0, +1} for every weight and bias, each value with
                 probability 1/3 (a three-sided coin per entry); w = w' if cost(w') < cost(w)
                 on the step's batch, else w stays. The step's recorded loss is cost(w), so on
                 full batches the loss never increases. The coins are counter-based
                 (stateless Philox seeded by the member's seed, the step and the tensor), so a
                 member walks the same way alone or in a population.

The compiled functions take the weights, the optimizer state and the data as arguments and
are cached by structure (layer kinds, head, optimizer, full or mini-batch), so jobs of the same
shapes reuse one trace in a process instead of tracing anew.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from toynets.model import (
    correct,
    dense_layers,
    hidden_activations,
    loss_per_example,
    mask_layers,
    tf_activate,
)
from toynets.net import Net

ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}  # keras.optimizers.Adam's defaults
RMSPROP = {"rho": 0.9, "epsilon": 1e-7}  # keras.optimizers.RMSprop's defaults
OPTIMIZER_SLOTS = {"adam": 2, "rmsprop": 1, "sgd": 0}  # state tensors per weight
GRADIENT_FREE = ("random_walk",)


@dataclass(frozen=True)
class Architecture:
    """What one compiled function serves: hidden layers' (activation, k), head, optimizer."""

    kinds: tuple[tuple[str, int], ...]
    head: str
    optimizer: str


@dataclass
class Population:
    """Stacked weights [K, ...] (kernel, bias per layer), node masks [K, width] per hidden
    layer, and each member's true (fan_in, fan_out) per layer, to cut the padding off."""

    architecture: Architecture
    weights: list[np.ndarray]  # W0, b0, W1, b1, ... float32, padded
    masks: list[np.ndarray]  # [K, widest] per hidden layer, 0 on padding
    shapes: list[list[tuple[int, int]]]  # member -> layer -> (fan_in, fan_out) of the kernel

    @property
    def size(self) -> int:
        return len(self.shapes)

    def member_weights(self, weights: Sequence[np.ndarray], member: int) -> list[np.ndarray]:
        """One member's kernels and biases without the padding."""
        out = []
        for layer, (fan_in, fan_out) in enumerate(self.shapes[member]):
            out.append(np.asarray(weights[2 * layer][member, :fan_in, :fan_out]))
            out.append(np.asarray(weights[2 * layer + 1][member, :fan_out]))
        return out


def _kinds(member: keras.Model | Net) -> tuple[tuple[str, int], ...]:
    if isinstance(member, Net):
        return tuple((layer.activation, layer.k) for layer in member.layers[:-1])
    return tuple(hidden_activations(member))


def _arrays(member: keras.Model | Net) -> tuple[list[tuple[np.ndarray, np.ndarray]], list]:
    """A member's (kernel, bias) per layer and node mask per hidden layer: a Keras model's
    variables and stored masks, or a Net's arrays with every unit on."""
    if isinstance(member, Net):
        layers = [(layer.W, layer.b) for layer in member.layers]
        return layers, [np.ones(layer.units, np.float32) for layer in member.layers[:-1]]
    layers = [(d.kernel.numpy(), d.bias.numpy()) for d in dense_layers(member)]
    return layers, [m.values.numpy() for m in mask_layers(member)]


def architecture_of(model: keras.Model | Net, head: str, optimizer: str) -> Architecture:
    return Architecture(_kinds(model), head, optimizer)


def describe_kinds(architecture: Architecture) -> str:
    """`relu, relu` / `maxout(k=3)` / `none` for the hidden layers of an architecture."""
    kinds = [a if a != "maxout" else f"maxout(k={k})" for a, k in architecture.kinds]
    return ", ".join(kinds) or "none"


def stack(models: Sequence[keras.Model | Net], head: str, optimizer: str) -> Population:
    """The population of these models' current weights and stored node masks (a `Net`: its
    weights, every unit on); their architectures (layer count, activations, inputs, outputs)
    must agree, widths may not."""
    architectures = {architecture_of(model, head, optimizer) for model in models}
    if len(architectures) != 1:
        raise ValueError(f"one population needs one architecture, got {len(architectures)}")
    arrays = [_arrays(model) for model in models]
    shapes = [[W.shape for W, _ in layers] for layers, _ in arrays]
    n_layers = len(shapes[0])  # one architecture: one number of layers
    weights, masks = [], []
    for layer in range(n_layers):
        fan_in = max(s[layer][0] for s in shapes)
        fan_out = max(s[layer][1] for s in shapes)
        W = np.zeros((len(models), fan_in, fan_out), np.float32)
        b = np.zeros((len(models), fan_out), np.float32)
        for k, (layers, _) in enumerate(arrays):
            kernel, bias = layers[layer]
            W[k, : kernel.shape[0], : kernel.shape[1]] = kernel
            b[k, : bias.shape[0]] = bias
        weights += [W, b]
    for layer in range(n_layers - 1):
        width = max(len(member_masks[layer]) for _, member_masks in arrays)
        mask = np.zeros((len(models), width), np.float32)
        for k, (_, member_masks) in enumerate(arrays):
            mask[k, : len(member_masks[layer])] = member_masks[layer]
        masks.append(mask)
    return Population(architectures.pop(), weights, masks, shapes)


def unstack(population: Population, weights: Sequence[np.ndarray], models: Sequence) -> None:
    """Write each member's weights (without padding) into its Keras model (a `Net` is left
    as it is: its trained weights are the last snapshot of its History)."""
    for k, model in enumerate(models):
        if isinstance(model, Net):
            continue
        values = population.member_weights(weights, k)
        for i, layer in enumerate(dense_layers(model)):
            layer.kernel.assign(values[2 * i])
            layer.bias.assign(values[2 * i + 1])


def logits(arch: Architecture, weights: Sequence[tf.Tensor], masks, x: tf.Tensor) -> tf.Tensor:
    """z_L [K, batch, outputs] of every member on its own points x [K, batch, d]."""
    h = x
    for i, kind in enumerate(arch.kinds):
        z = tf.matmul(h, weights[2 * i]) + weights[2 * i + 1][:, None, :]
        h = tf_activate(z, *kind) * masks[i][:, None, :]
    last = len(arch.kinds)
    return tf.matmul(h, weights[2 * last]) + weights[2 * last + 1][:, None, :]


def member_losses(arch: Architecture, weights, masks, x, y) -> tf.Tensor:
    """The mean loss of each member on its batch: [K]."""
    return tf.reduce_mean(loss_per_example(arch.head, y, logits(arch, weights, masks, x)), -1)


def _per_member(value: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A [K] value shaped to broadcast against a [K, ...] tensor."""
    return tf.reshape(
        value, tf.concat([tf.shape(value), tf.ones([tf.rank(like) - 1], tf.int32)], 0)
    )


def optimizer_state(
    optimizer: str, weights: Sequence[np.ndarray], seeds: Sequence[int] = ()
) -> list[np.ndarray]:
    """Zeroed slots: Adam's m then v per weight, RMSprop's v per weight, none for SGD; the
    random walk's state is each member's seed [K] (its coins are drawn from it and the step)."""
    if optimizer == "random_walk":
        return [np.asarray(seeds, np.int64).reshape(len(weights[0]))]
    return [np.zeros_like(w) for _ in range(OPTIMIZER_SLOTS[optimizer]) for w in weights]


def coin_moves(weights: Sequence[tf.Tensor], seeds: tf.Tensor, iteration: tf.Tensor) -> list:
    """The random walk's moves s in {-1, 0, +1} for every entry of every weight [K, ...]:
    floor(3 u) - 1 with u uniform on [0, 1) drawn by stateless Philox from (the member's seed,
    iteration * n_tensors + tensor index), one draw per member."""
    n = len(weights)
    moves = []
    for i, w in enumerate(weights):
        counter = iteration * n + i
        pairs = tf.stack([seeds, tf.fill(tf.shape(seeds), counter)], axis=1)
        u = tf.map_fn(
            lambda pair, w=w: tf.random.stateless_uniform(tf.shape(w)[1:], pair),
            pairs,
            fn_output_signature=tf.float32,
        )
        moves.append(tf.floor(3.0 * u) - 1.0)
    return moves


def random_walk_step(loss_of, weights, state, iteration, lr):
    """One random-walk step for every member (see the module docstring): (loss before,
    weights after). `loss_of(weights)` is every member's cost on the step's batch [K]."""
    loss = loss_of(weights)
    moves = coin_moves(weights, state[0], iteration)
    proposal = [w + _per_member(lr, w) * s for w, s in zip(weights, moves, strict=True)]
    better = tf.cast(loss_of(proposal) < loss, tf.float32)  # a NaN proposal is never better
    return loss, _keep(better, proposal, weights)


def apply_update(optimizer: str, weights, grads, state, iteration, lr):
    """One optimizer step for every member (Keras' formulas, see the module docstring);
    `iteration` counts the steps done before this one. Returns (weights, state)."""
    n = len(weights)
    if optimizer == "sgd":
        return [w - g * _per_member(lr, w) for w, g in zip(weights, grads, strict=True)], state
    if optimizer == "rmsprop":
        rho, eps = RMSPROP["rho"], RMSPROP["epsilon"]
        new_w, new_v = [], []
        for w, g, v in zip(weights, grads, state, strict=True):
            v = rho * v + (1 - rho) * tf.square(g)
            new_w.append(w - _per_member(lr, w) * g / tf.sqrt(v + eps))
            new_v.append(v)
        return new_w, new_v
    b1, b2, eps = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    local_step = tf.cast(iteration + 1, tf.float32)
    b1_power, b2_power = tf.pow(tf.constant(b1), local_step), tf.pow(tf.constant(b2), local_step)
    alpha = lr * tf.sqrt(1 - b2_power) / (1 - b1_power)
    new_w, new_m, new_v = [], [], []
    for w, g, m, v in zip(weights, grads, state[:n], state[n:], strict=True):
        m = m + (g - m) * (1 - b1)
        v = v + (tf.square(g) - v) * (1 - b2)
        new_w.append(w - m * _per_member(alpha, w) / (tf.sqrt(v) + eps))
        new_m.append(m)
        new_v.append(v)
    return new_w, new_m + new_v


def _keep(ok: tf.Tensor, new: Sequence[tf.Tensor], old: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    return [tf.where(_per_member(ok, n) > 0, n, o) for n, o in zip(new, old, strict=True)]


@functools.cache
def compiled(arch: Architecture, full_batch: bool) -> tuple[tf.types.experimental.Function, ...]:
    """(train_chunk, evaluate) for an architecture, traced once per process and reused by
    every job and population of this structure (shapes are arguments, not constants)."""

    def train_chunk(
        weights, state, active, iteration, masks, lr, x, y, order, start, n_steps, batch
    ):
        """Steps start .. start + n_steps - 1 of every member. order [K, E, n] holds each
        member's permutations of the epochs this chunk touches (from epoch start // per_epoch
        on). active [K] is 1 for the members still training: a member whose loss is not
        finite stops there for good, its weights and state as they were before that step.
        Returns (weights, state, active, losses [n_steps, K])."""
        n = tf.shape(x)[1]
        per_epoch = (n + batch - 1) // batch
        first_epoch = start // per_epoch

        def step_k(k, weights, state, active, losses):
            if full_batch:
                xb, yb = x, y
            else:
                step = start + k
                row = order[:, step // per_epoch - first_epoch]
                j = step % per_epoch
                idx = row[:, j * batch : tf.minimum((j + 1) * batch, n)]
                xb, yb = tf.gather(x, idx, batch_dims=1), tf.gather(y, idx, batch_dims=1)
            at = iteration + tf.cast(k, tf.int64)
            if arch.optimizer in GRADIENT_FREE:
                loss, new_weights = random_walk_step(
                    lambda w: member_losses(arch, w, masks, xb, yb), weights, state, at, lr
                )
                new_state = state
            else:
                with tf.GradientTape() as tape:
                    tape.watch(weights)
                    loss = member_losses(arch, weights, masks, xb, yb)
                    total = tf.reduce_sum(tf.where(tf.math.is_finite(loss), loss, 0.0))
                grads = tape.gradient(total, weights)
                new_weights, new_state = apply_update(arch.optimizer, weights, grads, state, at, lr)
            active = active * tf.cast(tf.math.is_finite(loss), tf.float32)
            weights, state = _keep(active, new_weights, weights), _keep(active, new_state, state)
            return k + 1, weights, state, active, losses.write(k, loss)

        losses = tf.TensorArray(tf.float32, size=n_steps)
        _, weights, state, active, losses = tf.while_loop(
            lambda k, *_: k < n_steps,
            step_k,
            (tf.constant(0, n_steps.dtype), list(weights), list(state), active, losses),
        )
        return weights, state, active, losses.stack()

    def evaluate(weights, masks, x, y, x_test, y_test):
        """Loss (and accuracy) per member [K] on the training and the test set."""
        out = {}
        for split, xs, ys in (("train", x, y), ("test", x_test, y_test)):
            z = logits(arch, weights, masks, xs)
            out[f"{split}/loss"] = tf.reduce_mean(loss_per_example(arch.head, ys, z), -1)
            if arch.head != "linear":
                out[f"{split}/accuracy"] = tf.reduce_mean(correct(arch.head, ys, z), -1)
        return out

    # XLA fuses the whole full-batch loop (~3x faster); a mini-batch's dynamic size would make
    # XLA recompile, so those chunks run as a plain graph.
    # The loop is an explicit while_loop and every other branch is on Python values, so no
    # AutoGraph conversion is needed: it cost ~2 s of each process's first trace.
    return (
        tf.function(train_chunk, jit_compile=full_batch, reduce_retracing=True, autograph=False),
        tf.function(evaluate, reduce_retracing=True, autograph=False),
    )
