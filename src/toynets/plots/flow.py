"""Figures of the flow study (DIGEST §4), drawn from its arrays: the flow of one point through
the net (the source's visFCNN), the same with each neuron's picture of the input plane
(visFCNN2D), the first layer's weights and lines, the linear regions and their count during
training.

A net is given as `weights`: one (W [fan_in, columns], b [columns], activation, k) per layer,
hidden then output. In a flow diagram each neuron is a circle whose left half is coloured by
its linear value z and right half by its activation a (inputs: one colour, the value), in the
study's palette over that column's colour range; each bias is a small square on the neuron's
left and each weight a line from unit to unit, both coloured on the house diverging scale
(red positive, blue negative) and the lines as wide as |w| is large. A maxout unit shows
the weights of its winning column.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle, Wedge
from matplotlib.ticker import MaxNLocator

from toynets.plots import style

Weights = Sequence[tuple[np.ndarray, np.ndarray, str, int]]
COLUMN_GAP = 4.0  # data units between layers (one unit between neurons)
RADIUS = 0.38
BAR_ROOM = 0.8  # inches under a diagram for the weights' colour bar
LABEL_LIMIT = 12  # the widest layer whose neurons get their values written beside them


def _layout(widths: Sequence[int]) -> list[np.ndarray]:
    """(x, y) of each neuron, layer by layer, `COLUMN_GAP` apart; each layer centred on y = 0,
    its neuron 0 at the top."""
    return [
        np.column_stack([np.full(w, COLUMN_GAP * i), (w - 1) / 2 - np.arange(w)])
        for i, w in enumerate(widths)
    ]


def _unit_weights(W: np.ndarray, b: np.ndarray, k: int, z: np.ndarray | None):
    """A layer's weights and biases per unit [fan_in, units], [units]: maxout units take the
    column that wins at z (or their first column without a point)."""
    if k == 1:
        return W, b
    units = W.shape[1] // k
    winner = np.asarray(z).reshape(units, k).argmax(-1) if z is not None else np.zeros(units, int)
    columns = np.arange(units) * k + winner
    return W[:, columns], b[columns]


def _canvas(widths: Sequence[int], title: str) -> tuple[Figure, object, list[np.ndarray]]:
    """A figure sized to the net: `COLUMN_GAP` between layers, one unit between neurons,
    equal aspect, at most `style.WIDE` wide and 15 in tall; the title wrapped to its width
    (a tall narrow net has a narrow figure)."""
    span_x = COLUMN_GAP * (len(widths) - 1) + 3.2
    top, bottom = max(widths) / 2 + 1.25, -max(widths) / 2 - 1.35  # layer names, ranges
    span_y = top - bottom
    inch = min(style.WIDE / span_x, 15.0 / span_y, 0.62)
    width = span_x * inch + 0.3
    wrapped = textwrap.fill(title, max(30, int(width * 72 / (style.FONT + 1) / 0.6)))
    title_room = 0.3 + 0.24 * (wrapped.count("\n") + 1) if title else 0.1
    height = span_y * inch + title_room + BAR_ROOM
    fig = Figure(figsize=(width, height), layout="none")
    ax = fig.add_axes((0.01, BAR_ROOM / height, 0.98, 1 - (title_room + BAR_ROOM) / height))
    ax.set_xlim(-1.6, COLUMN_GAP * (len(widths) - 1) + 1.6)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        style.suptitle(fig, wrapped)
    return fig, ax, _layout(widths)


def _weight_scale(weights: Weights) -> float:
    return max(float(np.max(np.abs(W))) for W, *_ in weights) or 1.0


def _draw_links(ax, weights: Weights, xy: list[np.ndarray], zs, gap: float) -> TwoSlopeNorm:
    """Every weight as a line (colour: sign and size, width: |w|) and every bias as a square
    left of its neuron; returns the diverging norm they share."""
    span = max(_weight_scale(weights), max(float(np.max(np.abs(b))) for _, b, *_ in weights))
    norm = TwoSlopeNorm(0.0, -span, span)
    cmap = colormaps[style.DIVERGING]
    segments, colours, widths = [], [], []
    squares, square_colours = [], []
    for layer, (W, b, _, k) in enumerate(weights):
        Wu, bu = _unit_weights(W, b, k, None if zs is None else zs[layer])
        start, end = xy[layer], xy[layer + 1]
        for i in range(len(start)):
            for j in range(len(end)):
                segments.append([start[i] + [gap, 0], end[j] - [gap, 0]])
                colours.append(cmap(norm(Wu[i, j])))
                widths.append(0.3 + 2.6 * abs(Wu[i, j]) / span)
        for j in range(len(end)):
            side = 0.22
            squares.append(
                Rectangle(end[j] - [gap + side + 0.08, side / 2 + gap * 0.55], side, side)
            )
            square_colours.append(cmap(norm(bu[j])))
    order = np.argsort(widths)  # the strongest links on top
    ax.add_collection(
        LineCollection(
            [segments[i] for i in order],
            colors=[colours[i] for i in order],
            linewidths=[widths[i] for i in order],
            zorder=1,
        )
    )
    ax.add_collection(
        PatchCollection(
            squares, facecolors=square_colours, edgecolors="0.25", linewidths=0.5, zorder=3
        )
    )
    return norm


def _layer_names(weights: Weights) -> list[str]:
    names = ["input"]
    for i, (_, _, activation, k) in enumerate(weights[:-1]):
        names.append(f"hidden {i + 1}\n{activation}" + (f" (k={k})" if k > 1 else ""))
    names.append(f"output\n{weights[-1][2]}")
    return names


def _label_layers(ax, weights: Weights, xy: list[np.ndarray]) -> None:
    top = max(float(p[:, 1].max()) for p in xy if len(p)) + 0.6
    for name, p in zip(_layer_names(weights), xy, strict=True):
        ax.text(p[0, 0], top, name, ha="center", va="bottom", fontsize=style.SMALL)


def _weight_colorbar(fig: Figure, ax, norm) -> None:
    from matplotlib.cm import ScalarMappable

    height = fig.get_figheight()
    cax = fig.add_axes((0.3, 0.5 / height, 0.4, 0.09 / height))
    bar = fig.colorbar(
        ScalarMappable(norm, colormaps[style.DIVERGING]), cax=cax, orientation="horizontal"
    )
    bar.set_label("weight and bias (lines, squares)", fontsize=style.SMALL - 1)
    bar.ax.tick_params(labelsize=style.SMALL - 1)


@style.house_style
def flow_diagram(
    weights: Weights,
    values: Sequence,
    limits: Sequence[tuple[float, float]],
    palette: str = "viridis",
    title: str = "",
) -> Figure:
    """The flow of one point: `values` = [x (inputs), (z, a) of each layer], `limits` the
    colour range of each diagram column [inputs, z and a of each layer] (see the module)."""
    x, layers = np.asarray(values[0], float), values[1:]
    widths = [len(x), *[len(a) for _, a in layers]]
    fig, ax, xy = _canvas(widths, title)
    cmap = colormaps[palette]
    norm = _draw_links(ax, weights, xy, [z for z, _ in layers], RADIUS)
    wedges, colours = [], []
    lo, hi = limits[0]
    for p, v in zip(xy[0], x, strict=True):
        wedges.append(Circle(p, RADIUS))
        colours.append(cmap(Normalize(lo, hi)(v)))
    for layer, (z, a) in enumerate(layers):
        z_norm = Normalize(*limits[1 + 2 * layer])
        a_norm = Normalize(*limits[2 + 2 * layer])
        k = weights[layer][3]
        z_unit = np.asarray(z).reshape(len(a), k).max(-1)  # maxout: the winning column
        for p, zv, av in zip(xy[layer + 1], z_unit, a, strict=True):
            wedges += [Wedge(p, RADIUS, 90, 270), Wedge(p, RADIUS, 270, 90)]
            colours += [cmap(z_norm(zv)), cmap(a_norm(av))]
    ax.add_collection(
        PatchCollection(wedges, facecolors=colours, edgecolors="0.2", linewidths=0.6, zorder=4)
    )
    if max(widths) <= LABEL_LIMIT:
        small = style.SMALL - 2
        for p, v in zip(xy[0], x, strict=True):
            ax.text(p[0] - RADIUS - 0.1, p[1], f"{v:.3g}", ha="right", va="center", fontsize=small)
        for layer, (z, a) in enumerate(layers):
            k = weights[layer][3]
            z_unit = np.asarray(z).reshape(len(a), k).max(-1)
            for p, zv, av in zip(xy[layer + 1], z_unit, a, strict=True):
                ax.text(
                    p[0] + RADIUS + 0.08,
                    p[1],
                    f"z {zv:.3g}\na {av:.3g}",
                    ha="left",
                    va="center",
                    fontsize=small,
                    linespacing=1.0,
                )
    _label_layers(ax, weights, xy)
    bottom = min(float(p[:, 1].min()) for p in xy) - 0.55
    ranges = [f"x [{limits[0][0]:.2g}, {limits[0][1]:.2g}]"]
    ranges += [
        f"z [{limits[1 + 2 * i][0]:.2g}, {limits[1 + 2 * i][1]:.2g}]\n"
        f"a [{limits[2 + 2 * i][0]:.2g}, {limits[2 + 2 * i][1]:.2g}]"
        for i in range(len(layers))
    ]
    for p, text in zip(xy, ranges, strict=True):
        ax.text(p[0, 0], bottom, text, ha="center", va="top", fontsize=style.SMALL - 2, color="0.3")
    _weight_colorbar(fig, ax, norm)
    _footnote(ax, f"neurons: left half z, right half a ({palette}, range under each layer)")
    return fig


@style.house_style
def flow_maps(
    weights: Weights,
    maps: Sequence[np.ndarray],
    box: tuple[float, float, float, float],
    point: np.ndarray,
    palette: str = "viridis",
    title: str = "",
) -> Figure:
    """The net with each neuron drawn as its picture of the input plane (§4's visFCNN2D):
    `maps[l]` [units, rows, cols] the activations of layer l over the grid of `box`, each
    picture on its own colour range; the inputs x1, x2 as pictures too, and `point` marked
    in every picture."""
    n_inputs = weights[0][0].shape[0]
    widths = [n_inputs, *[len(m) for m in maps]]
    fig, ax, xy = _canvas(widths, title)
    half = RADIUS * 1.15
    norm = _draw_links(ax, weights, xy, None, half)
    g1, g2 = np.meshgrid(np.linspace(box[0], box[1], 32), np.linspace(box[2], box[3], 32))
    pictures = [g1, g2, *[np.full_like(g1, np.nan)] * (n_inputs - 2)]
    u = (np.asarray(point[:2]) - [box[0], box[2]]) / [box[1] - box[0], box[3] - box[2]]
    for layer, p_layer in enumerate(xy):
        images = pictures if layer == 0 else maps[layer - 1]
        for p, image in zip(p_layer, images, strict=True):
            extent = (p[0] - half, p[0] + half, p[1] - half, p[1] + half)
            finite = np.isfinite(image)
            if finite.any():
                lo, hi = float(np.min(image[finite])), float(np.max(image[finite]))
                ax.imshow(
                    image,
                    origin="lower",
                    extent=extent,
                    cmap=palette,
                    vmin=lo,
                    vmax=hi if hi > lo else lo + 1,
                    interpolation="bilinear",
                    zorder=4,
                )
            ax.add_patch(
                Rectangle(
                    (extent[0], extent[2]),
                    2 * half,
                    2 * half,
                    fill=False,
                    lw=0.6,
                    ec="0.2",
                    zorder=5,
                )
            )
            ax.plot(
                extent[0] + u[0] * 2 * half,
                extent[2] + u[1] * 2 * half,
                "o",
                ms=3.0,
                mfc="white",
                mec="black",
                mew=0.6,
                zorder=6,
            )
    _label_layers(ax, weights, xy)
    _weight_colorbar(fig, ax, norm)
    _footnote(
        ax,
        f"each neuron: its activation over x1 ∈ [{box[0]:.3g}, {box[1]:.3g}], "
        f"x2 ∈ [{box[2]:.3g}, {box[3]:.3g}] ({palette}, own range); ○ the point",
    )
    return fig


def _footnote(ax, text: str) -> None:
    """A small grey line at the diagram's bottom right, saying how to read it."""
    ax.text(
        1.0, 0.0, text, transform=ax.transAxes, ha="right", va="bottom",
        fontsize=style.SMALL - 2, color="0.3",
    )  # fmt: skip


def _mark_points(ax, points: np.ndarray, names: Sequence[str], box) -> None:
    """The explained points as white dots with their names, each name on the side of its
    point towards the box's middle (so that none leaves the plot)."""
    for (p1, p2), name in zip(points, names, strict=True):
        ax.plot(p1, p2, "o", ms=5, mfc="white", mec="black", mew=0.9, zorder=7)
        right = p1 > box[1] - 0.2 * (box[1] - box[0])
        high = p2 > box[3] - 0.1 * (box[3] - box[2])
        ax.annotate(
            name,
            (p1, p2),
            xytext=(-5 if right else 5, -5 if high else 5),
            textcoords="offset points",
            ha="right" if right else "left",
            va="top" if high else "bottom",
            fontsize=style.SMALL - 1,
            zorder=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )


@style.house_style
def first_layer(
    W: np.ndarray,
    b: np.ndarray,
    lines: np.ndarray | None,
    box: tuple[float, float, float, float],
    points: np.ndarray,
    names: Sequence[str],
    activation: str = "relu",
    title: str = "",
) -> Figure:
    """The first layer's weight matrix [W0; b0] as an image (§4's imshow(W0)), and its lines
    x1 w_0j + x2 w_1j + b_j = 0 over the box with an arrow to the side where z_j > 0 (for
    ReLU: where unit j is on), the explained points marked."""
    panels = 2 if lines is not None else 1
    fig, axes, _ = style.panel_grid(
        panels, 2, (4.3, 4.0), margins=(0.95, 0.3, 0.6, 0.32 if title else 0.12), gap=0.9
    )
    ax = axes[0]
    matrix = np.vstack([W, b[None, :]])
    span = float(np.max(np.abs(matrix))) or 1.0
    image = ax.imshow(matrix, cmap=style.DIVERGING, vmin=-span, vmax=span, aspect="auto")
    rows = [f"$x_{{{i + 1}}}$" for i in range(W.shape[0])] + ["bias"]
    ax.set_yticks(range(len(rows)), rows)
    if W.shape[1] <= 12:
        ax.set_xticks(range(W.shape[1]))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
    ax.set(xlabel="unit", title="first-layer weights [W0; b0]")
    if matrix.size <= 60:
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(
                c,
                r,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=style.SMALL - 1,
                color="white" if abs(v) > 0.6 * span else "black",
            )
    fig.colorbar(image, ax=ax, shrink=0.8, location="bottom", pad=0.18)
    if lines is not None:
        ax = axes[1]
        _draw_lines(ax, lines, box)
        _mark_points(ax, points, names, box)
        ax.set(xlim=box[:2], ylim=box[2:], xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
        where = "on" if activation == "relu" else "z > 0"  # a sigmoid unit: a > 1/2 there
        ax.set_title(
            f"first-layer lines z = 0, arrows where {where}"
            if len(lines) <= LABEL_LIMIT
            else f"the {len(lines)} first-layer lines z = 0"
        )
    if title:
        style.suptitle(fig, title)
    return fig


def _draw_lines(ax, lines: np.ndarray, box) -> None:
    """Each line clipped to the box in the series colours; up to `LABEL_LIMIT` lines each
    labelled with its unit and an arrow at its middle pointing to the side where z > 0."""
    span = max(box[1] - box[0], box[3] - box[2])
    labelled = len(lines) <= LABEL_LIMIT
    for j, (w1, w2, c) in enumerate(lines):
        colour = style.SERIES[j % len(style.SERIES)]
        ends = _clip(w1, w2, c, box)
        if ends is None:
            continue
        (p, q) = ends
        ax.plot(
            [p[0], q[0]], [p[1], q[1]], color=colour, lw=1.8 if labelled else 0.9,
            alpha=1.0 if labelled else 0.7, label=f"unit {j}",
        )  # fmt: skip
        if not labelled:
            continue
        middle = (p + q) / 2
        normal = np.array([w1, w2]) / np.hypot(w1, w2) * 0.08 * span
        ax.annotate(
            "",
            middle + normal,
            middle,
            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.4},
        )
        ax.text(
            *(q + (p - q) * 0.06), str(j), color=colour, fontsize=style.SMALL,
            ha="center", va="center", fontweight="bold",
        )  # fmt: skip
    if len(lines) <= 8:
        ax.legend(loc="lower left", fontsize=style.SMALL - 1)


def _clip(w1: float, w2: float, c: float, box) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the line w1 x1 + w2 x2 + c = 0 enters and leaves the box (None: it misses)."""
    hits = []
    if w2 != 0:
        for x1 in box[:2]:
            x2 = -(w1 * x1 + c) / w2
            if box[2] <= x2 <= box[3]:
                hits.append((x1, x2))
    if w1 != 0:
        for x2 in box[2:]:
            x1 = -(w2 * x2 + c) / w1
            if box[0] <= x1 <= box[1]:
                hits.append((x1, x2))
    if len(hits) < 2:
        return None
    hits_arr = np.array(hits, float)
    far = np.argmax(((hits_arr - hits_arr[0]) ** 2).sum(1))
    if far == 0:
        return None
    return hits_arr[0], hits_arr[far]


@style.house_style
def region_map(
    x1: np.ndarray,
    x2: np.ndarray,
    labels: np.ndarray,
    points: np.ndarray,
    names: Sequence[str],
    lines: np.ndarray | None = None,
    exact: int | None = None,
    title: str = "",
) -> Figure:
    """The linear regions met on the grid, each its own colour (neighbours differ) with black
    boundaries, the first layer's lines dashed white over them (in a deeper net the other
    boundaries bend where they cross a line), the explained points marked; the title gives
    their number (and the exact number of the first-layer arrangement for one hidden
    layer)."""
    fig, axes, _ = style.panel_grid(1, 1, (5.4, 5.0), margins=(0.75, 0.25, 0.6, 0.5))
    ax = axes[0]
    n = int(labels.max()) + 1
    rng = np.random.default_rng(0)
    palette = colormaps["tab20"](np.arange(20))[:, :3]
    colour = palette[rng.permutation(n) % 20]
    rgb = colour[labels]
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    rgb[edge] = 0.1
    box = (x1[0], x1[-1], x2[0], x2[-1])
    ax.imshow(rgb, origin="lower", extent=box, interpolation="nearest", aspect="equal")
    drawn = []
    for w1, w2, c in lines if lines is not None else []:  # the first layer's straight cuts
        ends = _clip(w1, w2, c, box)
        if ends is not None:
            drawn += ax.plot(*np.transpose(ends), color="white", lw=1.3, ls=(0, (3, 2)))
    if drawn:
        ax.legend(drawn[:1], ["first-layer lines"], loc="lower left", fontsize=style.SMALL - 1)
    _mark_points(ax, points, names, box)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", xlim=box[:2], ylim=box[2:])
    counted = f"{n} linear regions on a {len(x1)}×{len(x2)} grid"
    if exact is not None:
        counted += f"; exact: {exact}"
    ax.set_title(counted)
    if title:
        style.suptitle(fig, title)
    return fig


@style.house_style
def region_count(steps: np.ndarray, curves: dict[str, np.ndarray], title: str = "") -> Figure:
    """The number of linear regions at each weight snapshot of the training."""
    fig, axes, _ = style.panel_grid(1, 1, (6.4, 3.0), margins=(0.8, 0.25, 0.6, 0.5))
    ax = axes[0]
    for (name, counts), line in zip(curves.items(), ("-", "--"), strict=False):
        ax.plot(steps, counts, ls=line, label=name, drawstyle="steps-post")
    ax.set(
        xlabel="step", ylabel="linear regions in the box", title="linear regions during training"
    )
    ax.set_ylim(0, None)
    style.integer_ticks(ax, x=False, y=True)
    ax.grid(True)
    ax.legend()
    if title:
        style.suptitle(fig, title)
    return fig
