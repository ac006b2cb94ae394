"""toynets.analysis.linear_regions and toynets.analysis.flow against the independent NumPy
reference of tests/flow_reference.py (masked matrix products, finite differences, brute-force
grid enumeration, Euler's formula on the planar graph) and hand-counted cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import flow_reference as ref
from toynets.analysis import flow
from toynets.analysis import linear_regions as lr
from toynets.net import Layer, Net

BOX = (-2.0, 2.0, -2.0, 2.0)


def _net(widths: list[int], hidden: str, head: str, seed: int, k: int = 1) -> Net:
    rng = np.random.default_rng(seed)
    layers, fan = [], widths[0]
    for width in widths[1:-1]:
        columns = width * (k if hidden == "maxout" else 1)
        W = rng.normal(size=(fan, columns)) * 1.3 / np.sqrt(fan)
        layers.append(
            Layer(W, rng.normal(size=columns) * 0.5, hidden, k if hidden == "maxout" else 1)
        )
        fan = width
    layers.append(Layer(rng.normal(size=(fan, widths[-1])), rng.normal(size=widths[-1]), head))
    return Net(tuple(layers))


def _layers(net: Net) -> list[tuple]:
    return [(layer.W, layer.b, layer.activation, layer.k) for layer in net.layers]


NETS = {
    "relu one layer": ([2, 6, 1], "relu", "linear"),
    "relu deep softmax": ([2, 5, 4, 3], "relu", "softmax"),
    "relu three inputs": ([3, 4, 4, 1], "relu", "sigmoid"),
    "relu three layers": ([2, 3, 3, 3, 2], "relu", "softmax"),
}


@pytest.mark.parametrize("name", NETS)
def test_patterns_are_the_units_that_are_on(name: str) -> None:
    net = _net(*NETS[name], seed=len(name))
    x = np.random.default_rng(1).uniform(-2, 2, (300, net.n_inputs))
    np.testing.assert_array_equal(lr.patterns(net, x), ref.relu_pattern(_layers(net), x))
    assert lr.patterns(net, x).dtype == np.int8


@pytest.mark.parametrize("name", NETS)
def test_affine_map_is_the_masked_product_and_reproduces_the_net(name: str) -> None:
    net = _net(*NETS[name], seed=len(name))
    x = np.random.default_rng(2).uniform(-2, 2, (60, net.n_inputs))
    maps = lr.affine_maps(net, x)
    pattern = ref.relu_pattern(_layers(net), x)
    for i in range(len(x)):
        A, c = ref.affine_map_of_pattern(_layers(net), pattern[i])
        np.testing.assert_allclose(maps.A[i], A, atol=1e-12)
        np.testing.assert_allclose(maps.c[i], c, atol=1e-12)
        A_fd, c_fd = ref.affine_map_by_differences(_layers(net), x[i])
        np.testing.assert_allclose(maps.A[i], A_fd, atol=1e-6)
        np.testing.assert_allclose(maps.c[i], c_fd, atol=1e-6)
    # The map reproduces the net at the point and at the other points of its region.
    np.testing.assert_allclose(maps(x), net.logits(x), atol=1e-12)
    grid = np.random.default_rng(3).uniform(-2, 2, (4000, net.n_inputs))
    grid_pattern = lr.patterns(net, grid)
    for i in range(len(x)):
        same = np.all(grid_pattern == pattern[i], axis=1)
        inside = grid[same]
        np.testing.assert_allclose(inside @ maps.A[i] + maps.c[i], net.logits(inside), atol=1e-5)


def test_smooth_units_give_the_tangent_map_by_differences() -> None:
    for hidden in ("sigmoid", "tanh"):
        net = _net([2, 4, 3, 1], hidden, "linear", seed=7)
        x = np.random.default_rng(4).uniform(-2, 2, (20, 2))
        maps = lr.affine_maps(net, x)
        for i in range(len(x)):
            A_fd, c_fd = ref.affine_map_by_differences(_layers(net), x[i])
            np.testing.assert_allclose(maps.A[i], A_fd, atol=1e-7)
            np.testing.assert_allclose(maps.c[i], c_fd, atol=1e-7)
        with pytest.raises(ValueError, match=f"piecewise-linear.*{hidden}"):
            lr.patterns(net, x)
        assert not lr.is_piecewise_linear(net)


def test_maxout_pattern_is_the_winning_column_and_its_map_is_exact() -> None:
    net = _net([2, 4, 1], "maxout", "linear", seed=3, k=3)
    x = np.random.default_rng(5).uniform(-2, 2, (200, 2))
    z = x @ net.layers[0].W + net.layers[0].b
    np.testing.assert_array_equal(lr.patterns(net, x), z.reshape(200, 4, 3).argmax(-1))
    maps = lr.affine_maps(net, x)
    np.testing.assert_allclose(maps(x), net.logits(x), atol=1e-12)
    for i in range(0, 200, 20):
        A_fd, c_fd = ref.affine_map_by_differences(_layers(net), x[i])
        np.testing.assert_allclose(maps.A[i], A_fd, atol=1e-6)
        np.testing.assert_allclose(maps.c[i], c_fd, atol=1e-6)


# DIGEST §4's relu [4] net as the source prints it: W0, b0, the output weights of units 0 and 2
# (its "step 2"); unit 3's output weight and b1 follow from its NE and N zones
# (a1(N) - a1(NE) = W0[0, 3] w3, c(NE) = b0[0] W1[0] + b1); unit 1 is off in every zone.
SOURCE_W0 = np.array(
    [[0.2759463, 0.49641293, -0.22344889, -0.45353654],
     [0.44429868, -0.8133788, -0.40170252, 0.79962885]]
)  # fmt: skip
SOURCE_B0 = np.array([0.38886008, -0.70824724, 0.34960958, -0.75686085])
SOURCE_W3 = (0.44432752 - 0.22788628) / -0.45353654
SOURCE_B1 = -0.33453995 - 0.38886008 * 0.82583565
SOURCE_ZONES = {  # point: (pattern, [a1, a2, c]) as the source prints them
    (0.0, 0.0): ([1, 0, 1, 0], [0.01618018, -0.01367438, -0.00330321]),
    (1.0, 1.0): ([1, 0, 0, 0], [0.22788628, 0.36691769, -0.33453995]),
    (-1.0, 1.0): ([1, 0, 1, 1], [0.23262142, -0.39528124, 0.35789349]),
    (0.0, 2.0): ([1, 0, 0, 1], [0.44432752, -0.01468917, 0.02665675]),
}


def test_the_source_zones_of_its_relu_net() -> None:
    """§4's four zones: the pattern at each point and the map the source computes by hand,
    sum over units of [W0; b0] * (W1 * m), plus b1 in the constant."""
    W1 = np.array([[0.82583565], [-0.48], [0.94744754], [SOURCE_W3]])
    net = Net((Layer(SOURCE_W0, SOURCE_B0, "relu"), Layer(W1, np.array([SOURCE_B1]), "linear")))
    points = np.array(list(SOURCE_ZONES))
    maps = lr.affine_maps(net, points)
    for i, (mask, source) in enumerate(SOURCE_ZONES.values()):
        np.testing.assert_array_equal(lr.patterns(net, points[i : i + 1])[0], mask)
        by_hand = np.sum(np.vstack([SOURCE_W0, SOURCE_B0]) * (W1[:, 0] * np.array(mask)), axis=1)
        by_hand[-1] += SOURCE_B1
        mine = [*maps.A[i, :, 0], maps.c[i, 0]]
        np.testing.assert_allclose(mine, by_hand, atol=1e-12)
        np.testing.assert_allclose(mine, source, atol=2e-7)


def test_pattern_strings() -> None:
    pattern = np.array([[1, 0, 1, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]], np.int8)
    assert lr.pattern_strings(pattern, [4, 3]) == ["1010|110", "0001|111"]
    assert lr.pattern_strings(pattern[:, :4], [4]) == ["1010", "0001"]


@pytest.mark.parametrize("name", NETS)
def test_regions_on_a_grid_are_the_distinct_patterns(name: str) -> None:
    net = _net(*NETS[name], seed=len(name))
    size = 60
    g = np.linspace(-2, 2, size)
    g1, g2 = np.meshgrid(g, g)
    points = np.zeros((size * size, net.n_inputs))
    points[:, 0], points[:, 1] = g1.ravel(), g2.ravel()
    found = lr.regions(net, points)
    assert found.n_regions == ref.grid_pattern_count(_layers(net), BOX, size)
    pattern = lr.patterns(net, points)
    np.testing.assert_array_equal(found.pattern[found.label], pattern)  # each point's own
    np.testing.assert_array_equal(np.bincount(found.label), found.count)
    assert len({tuple(p) for p in found.pattern}) == found.n_regions
    area = lr.region_areas(found, BOX)
    assert area.sum() == pytest.approx(16.0)
    np.testing.assert_allclose(area, found.count / size**2 * 16.0)


def test_a_net_without_hidden_layer_is_one_region() -> None:
    net = Net((Layer(np.ones((2, 1)), np.zeros(1), "linear"),))
    found = lr.regions(net, np.random.default_rng(0).normal(size=(50, 2)))
    assert found.n_regions == 1 and found.count.tolist() == [50]


def test_general_position_gives_one_plus_n_plus_n_choose_2() -> None:
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 7, 20, 35):
        lines = ref.general_position_lines(n, rng)
        assert lr.arrangement_region_count(lines) == 1 + n + math.comb(n, 2)
    assert lr.arrangement_region_count(ref.general_position_lines(20, rng)) == 211


def test_the_count_in_a_box_matches_eulers_formula() -> None:
    rng = np.random.default_rng(12)
    for _ in range(40):
        n = int(rng.integers(1, 12))
        lines = ref.general_position_lines(n, rng) * rng.uniform(0.5, 3.0)
        box = tuple(sorted(rng.uniform(-1.5, 1.5, 2))) + tuple(sorted(rng.uniform(-1.5, 1.5, 2)))
        assert lr.arrangement_region_count(lines, box) == ref.arrangement_regions_euler(lines, box)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], 1),
        ([(1, 0, 0)], 2),  # x1 = 0
        ([(1, 1, -1), (1, -1, -1), (1, 1, 1), (1, -1, 1)], 9),  # the diamond |x1| + |x2| = 1
        ([(0, 0, 1)], 1),  # no normal: cuts nothing
        ([(1, 0, -5)], 1),  # outside the box
        ([(1, 0, -2)], 1),  # along a side
        ([(1, 1, 4)], 1),  # through a corner only
        ([(1, 2, 0.5), (-2, -4, -1), (1, 2, 0.5)], 2),  # one line given three times
        ([(1, 0, 0), (0, 1, 0), (1, 1, 0)], 6),  # three through one point
        ([(1, 0, 0), (0, 1, 0), (1, 1, 0), (1, -1, 0)], 8),  # four through one point
        ([(1, 0, 0), (1, 0, -1), (1, 0, 1)], 4),  # parallel
        ([(1, 1, -2), (1, -1, -2)], 3),  # meeting on the boundary at (2, 0)
    ],
)
def test_hand_counted_arrangements(lines: list, expected: int) -> None:
    lines = np.array(lines, float).reshape(-1, 3)
    assert lr.arrangement_region_count(lines, BOX) == expected
    assert ref.arrangement_regions_euler(lines, BOX) == expected


def test_the_count_of_a_relu_layer_is_its_regions_on_a_fine_grid() -> None:
    """One hidden ReLU layer: its regions in the box are the cells of its lines' arrangement
    (nets whose cells are all wider than the grid's step)."""
    checked = 0
    for seed in range(8):
        net = _net([2, 5, 1], "relu", "linear", seed=100 + seed)
        lines = lr.first_layer_lines(net)
        exact = lr.arrangement_region_count(lines, BOX)
        on_grid = ref.grid_pattern_count(_layers(net), BOX, 160)
        assert on_grid <= exact
        if _smallest_cell_is_wide(net, exact):
            assert on_grid == exact
            checked += 1
    assert checked >= 4


def _smallest_cell_is_wide(net: Net, exact: int) -> bool:
    size = 400
    g = np.linspace(-2, 2, size)
    g1, g2 = np.meshgrid(g, g)
    found = lr.regions(net, np.column_stack([g1.ravel(), g2.ravel()]))
    return found.n_regions == exact and found.count.min() > 400


def test_first_layer_lines_hold_the_rest_inputs() -> None:
    net = _net([3, 4, 1], "relu", "linear", seed=5)
    rest = np.array([0.7])
    lines = lr.first_layer_lines(net, rest)
    W, b = net.layers[0].W, net.layers[0].b
    np.testing.assert_allclose(lines, np.column_stack([W[0], W[1], b + 0.7 * W[2]]))
    # On each line the unit's z is 0.
    for j, (w1, w2, c) in enumerate(lines):
        x1 = 0.3
        x2 = -(w1 * x1 + c) / w2
        z = np.array([x1, x2, 0.7]) @ W[:, j] + b[j]
        assert abs(z) < 1e-12
    with pytest.raises(ValueError) as error:
        lr.first_layer_lines(_net([2, 3, 1], "maxout", "linear", seed=1, k=2))
    assert str(error.value) == "first-layer lines need a first hidden layer that is not maxout"
    with pytest.raises(ValueError) as error:
        lr.first_layer_lines(_net([1, 3, 1], "relu", "linear", seed=1))
    assert str(error.value) == "first-layer lines need at least two inputs"
    wide = _net([2, 1, 1], "relu", "linear", seed=2)  # one unit: one line
    np.testing.assert_allclose(
        lr.first_layer_lines(wide), [[*wide.layers[0].W[:, 0], wide.layers[0].b[0]]]
    )


def test_layer_values_follow_the_reference() -> None:
    for hidden, k in (("relu", 1), ("tanh", 1), ("maxout", 2)):
        net = _net([2, 5, 4, 3], hidden, "softmax", seed=9, k=k)
        x = np.random.default_rng(6).uniform(-2, 2, (30, 2))
        mine = flow.layer_values(net, x)
        theirs = ref.forward_values(_layers(net), x)
        assert len(mine) == len(theirs) == 3
        for v, (z, a) in zip(mine, theirs, strict=True):
            np.testing.assert_allclose(v.z, z, atol=1e-12)
            np.testing.assert_allclose(v.a, a, atol=1e-12)


def test_colour_limits() -> None:
    values = [np.array([-1.0, 3.0]), np.array([0.5, 2.0]), np.array([7.0, 7.0])]
    assert flow.colour_limits(values, "layer") == [(-1.0, 3.0), (0.5, 2.0), (6.0, 8.0)]
    assert flow.colour_limits(values, "global") == [(-1.0, 7.0)] * 3
    assert flow.colour_limits(values, "symmetric") == [(-7.0, 7.0)] * 3
    assert flow.colour_limits([np.array([-4.0, 1.0])], "symmetric") == [(-4.0, 4.0)]
    assert flow.colour_limits([np.zeros(3)], "global") == [(-1.0, 1.0)]
    with pytest.raises(ValueError, match="layer, global, symmetric"):
        flow.colour_limits(values, "per_unit")


def test_cell_polygons_by_hand_and_their_areas_tile_the_box() -> None:
    diamond = np.array([(1, 1, -1), (1, -1, -1), (1, 1, 1), (1, -1, 1)], float)
    centre = lr.cell_polygon(diamond, [0.0, 0.0])
    assert lr.polygon_area(centre) == pytest.approx(2.0)  # |x1| + |x2| <= 1
    assert lr.sides(diamond, centre) == [0, 1, 2, 3]
    assert lr.cell_polygon(diamond, [2.0, 0.0]) is None  # unbounded without a box
    east = lr.cell_polygon(diamond, [2.0, 0.0], BOX)  # the triangle (1, 0), (2, -1), (2, 1)
    assert lr.polygon_area(east) == pytest.approx(1.0)
    np.testing.assert_allclose(sorted(map(tuple, east)), [(1, 0), (2, -1), (2, 1)], atol=1e-12)
    assert lr.polygon_area(lr.cell_polygon(np.zeros((0, 3)), [0, 0], BOX)) == pytest.approx(16)
    # Every cell of a random arrangement, found on a grid: their exact areas add up to the box
    # and each is its grid area within the grid's resolution.
    rng = np.random.default_rng(21)
    lines = ref.general_position_lines(6, rng) * [1, 1, 1.5]
    size = 500
    g1, g2 = np.meshgrid(np.linspace(-2, 2, size), np.linspace(-2, 2, size))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    sign = grid @ lines[:, :2].T + lines[:, 2] >= 0
    cells, first, count = np.unique(sign, axis=0, return_index=True, return_counts=True)
    assert len(cells) == lr.arrangement_region_count(lines, BOX)
    areas = [lr.polygon_area(lr.cell_polygon(lines, grid[i], BOX)) for i in first]
    assert sum(areas) == pytest.approx(16.0, abs=1e-9)
    np.testing.assert_allclose(areas, count / size**2 * 16, atol=0.05)


def test_linear_and_stacked_maxout_layers() -> None:
    """A linear hidden layer is on everywhere (its digits are 1) and passes its input on; two
    maxout layers in a row each keep their winning columns."""
    rng = np.random.default_rng(8)
    linear = Net(
        (
            Layer(rng.normal(size=(2, 3)), rng.normal(size=3), "linear"),
            Layer(rng.normal(size=(3, 4)), rng.normal(size=4), "relu"),
            Layer(rng.normal(size=(4, 2)), rng.normal(size=2), "softmax"),
        )
    )
    x = rng.uniform(-2, 2, (100, 2))
    pattern = lr.patterns(linear, x)
    assert pattern.shape == (100, 7) and pattern.dtype == np.int8
    np.testing.assert_array_equal(pattern[:, :3], 1)
    z1 = (x @ linear.layers[0].W + linear.layers[0].b) @ linear.layers[1].W + linear.layers[1].b
    np.testing.assert_array_equal(pattern[:, 3:], z1 > 0)
    maps = lr.affine_maps(linear, x)
    np.testing.assert_allclose(maps(x), linear.logits(x), atol=1e-12)
    for i in range(0, 100, 25):
        A_fd, c_fd = ref.affine_map_by_differences(_layers(linear), x[i])
        np.testing.assert_allclose(maps.A[i], A_fd, atol=1e-6)
        np.testing.assert_allclose(maps.c[i], c_fd, atol=1e-6)
    stacked = Net(
        (
            Layer(rng.normal(size=(2, 8)), rng.normal(size=8), "maxout", 2),
            Layer(rng.normal(size=(4, 6)), rng.normal(size=6), "maxout", 3),
            Layer(rng.normal(size=(2, 1)), rng.normal(size=1), "linear"),
        )
    )
    maps = lr.affine_maps(stacked, x)
    np.testing.assert_allclose(maps(x), stacked.logits(x), atol=1e-12)
    for i in range(0, 100, 25):
        A_fd, c_fd = ref.affine_map_by_differences(_layers(stacked), x[i])
        np.testing.assert_allclose(maps.A[i], A_fd, atol=1e-6)
    z0 = x @ stacked.layers[0].W + stacked.layers[0].b
    a0 = z0.reshape(100, 4, 2).max(-1)
    z1 = a0 @ stacked.layers[1].W + stacked.layers[1].b
    expected = np.concatenate(
        [z0.reshape(100, 4, 2).argmax(-1), z1.reshape(100, 2, 3).argmax(-1)], 1
    )
    np.testing.assert_array_equal(lr.patterns(stacked, x), expected)


def test_a_unit_on_its_kink_counts_as_off() -> None:
    """At z = 0 exactly a ReLU unit is off: its digit is 0 and it adds nothing to the map
    (the one-sided slope of the side the pattern names)."""
    W0 = np.array([[1.0, 0.5], [0.0, 1.0]])
    net = Net(
        (Layer(W0, np.zeros(2), "relu"), Layer(np.array([[2.0], [3.0]]), np.zeros(1), "linear"))
    )
    x = np.array([[0.0, 1.0]])  # z = (0, 1)
    assert lr.patterns(net, x).tolist() == [[0, 1]]
    maps = lr.affine_maps(net, x)
    np.testing.assert_allclose(maps.A[0, :, 0], [1.5, 3.0])  # unit 1 alone: 3 (0.5, 1)
    np.testing.assert_allclose(maps.c[0], [0.0])


def test_smooth_layers_anywhere_are_refused() -> None:
    rng = np.random.default_rng(9)
    net = Net(
        (
            Layer(rng.normal(size=(2, 3)), rng.normal(size=3), "relu"),
            Layer(rng.normal(size=(3, 3)), rng.normal(size=3), "tanh"),
            Layer(rng.normal(size=(3, 1)), rng.normal(size=1), "linear"),
        )
    )
    assert not lr.is_piecewise_linear(net)
    with pytest.raises(ValueError) as error:
        lr.patterns(net, np.zeros((1, 2)))
    assert str(error.value) == (
        "linear regions need piecewise-linear hidden layers (relu, linear, maxout); "
        "this net has tanh"
    )
    both = Net((Layer(np.ones((2, 2)), np.zeros(2), "sigmoid"), *net.layers[1:]))
    with pytest.raises(ValueError, match="this net has sigmoid, tanh$"):
        lr.patterns(both, np.zeros((1, 2)))


def test_nets_with_no_or_one_hidden_unit() -> None:
    x = np.random.default_rng(0).normal(size=(50, 2))
    none = Net((Layer(np.ones((2, 1)), np.zeros(1), "linear"),))
    pattern = lr.patterns(none, x)
    assert pattern.shape == (50, 0) and pattern.dtype == np.int8
    found = lr.regions(none, x)
    assert found.label.tolist() == [0] * 50 and found.pattern.shape == (1, 0)
    one = Net(
        (
            Layer(np.array([[1.0], [0.0]]), np.zeros(1), "relu"),
            Layer(np.ones((1, 1)), np.zeros(1), "linear"),
        )
    )
    found = lr.regions(one, x)
    assert found.n_regions == 2
    np.testing.assert_array_equal(found.pattern[found.label][:, 0], x[:, 0] > 0)
    assert sorted(found.count) == sorted([int((x[:, 0] > 0).sum()), int((x[:, 0] <= 0).sum())])


def test_pattern_keys_pack_64_units_a_word() -> None:
    rng = np.random.default_rng(10)
    for units, words in ((5, 1), (64, 1), (70, 2), (130, 3)):
        pattern = rng.integers(0, 2, (400, units)).astype(np.int8)
        pattern[1] = pattern[0]  # a repeated row
        keys = lr._row_keys(pattern)
        assert keys.dtype == np.uint64
        assert keys.shape == ((400,) if words == 1 else (400, words))
        packed = np.packbits(pattern.astype(np.uint8), axis=1)
        as_bytes = keys.reshape(400, -1).view(np.uint8)[:, : packed.shape[1]]
        np.testing.assert_array_equal(as_bytes, packed)
        rows = {tuple(r) for r in pattern}
        assert len(np.unique(keys, axis=0 if keys.ndim == 2 else None)) == len(rows)
    digits = rng.integers(0, 3, (50, 4)).astype(np.int8)  # maxout pieces: kept as they are
    np.testing.assert_array_equal(lr._row_keys(digits), digits)


def test_regions_tell_apart_patterns_past_the_first_word_and_maxout_pieces() -> None:
    rng = np.random.default_rng(11)
    W = np.zeros((2, 70))
    b = np.full(70, 5.0)  # units 0..63 on everywhere
    W[:, 64:] = rng.normal(size=(2, 6))
    b[64:] = rng.normal(size=6) * 0.3
    wide = Net((Layer(W, b, "relu"), Layer(np.ones((70, 1)), np.zeros(1), "linear")))
    x = rng.uniform(-2, 2, (3000, 2))
    found = lr.regions(wide, x)
    tail = x @ W[:, 64:] + b[64:] > 0
    assert found.n_regions == len({tuple(r) for r in tail}) > 4
    np.testing.assert_array_equal(found.pattern[found.label][:, 64:], tail)
    pieces = _net([2, 4, 1], "maxout", "linear", seed=12, k=3)
    found = lr.regions(pieces, x)
    rows = lr.patterns(pieces, x)
    assert rows.max() == 2 and found.n_regions == len({tuple(r) for r in rows})
    np.testing.assert_array_equal(found.pattern[found.label], rows)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([(1, 1, -2), (1, -1, 2)], 3),  # meeting on the top edge at (0, 2)
        ([(1, 1, 2), (1, -1, -2)], 3),  # meeting on the bottom edge at (0, -2)
        ([(1, 1, 2), (1, -1, 2)], 3),  # meeting on the left edge at (-2, 0)
        ([(0, 1, 0.5), (0, -1, -0.5)], 2),  # a horizontal line given in both orientations
        ([(0, 2, 1), (0, 1, 0.5), (1, 0, 0)], 4),  # the same, scaled, and a vertical line
        ([(1e-12, 0, 0), (0, 1e-12, 1e-13)], 4),  # tiny coefficients: still two lines
    ],
)
def test_edges_orientations_and_scales(lines: list, expected: int) -> None:
    lines = np.array(lines, float)
    assert lr.arrangement_region_count(lines, BOX) == expected
    assert ref.arrangement_regions_euler(lines, BOX) == expected


def test_lines_through_one_point_away_from_the_origin() -> None:
    """m lines through one point add m - 1, however round-off places their crossings."""
    rng = np.random.default_rng(13)
    for m in (3, 4, 6):
        point = np.array([0.37, -0.61])
        angles = rng.uniform(0, np.pi, m)
        normals = np.column_stack([np.cos(angles), np.sin(angles)]) * rng.uniform(0.5, 3, (m, 1))
        lines = np.column_stack([normals, -normals @ point])
        assert lr.arrangement_region_count(lines, BOX) == 2 * m
        assert lr.arrangement_region_count(lines) == 2 * m
        assert ref.arrangement_regions_euler(lines, BOX) == 2 * m


def test_near_duplicates_and_the_whole_plane() -> None:
    base = np.array([1.0, 2.0, 1e4])
    same = base * (1 + 1e-13)  # the same line, up to round-off
    other = base + np.array([0, 0, 1.0])  # parallel, one apart
    assert lr.arrangement_region_count(np.array([base, same])) == 2
    assert lr.arrangement_region_count(np.array([base, other])) == 3
    assert lr.arrangement_region_count(np.array([base, same, other, -other])) == 3


def test_cells_on_lines_outside_the_box_and_unbounded() -> None:
    diamond = np.array([(1, 1, -1), (1, -1, -1), (1, 1, 1), (1, -1, 1)], float)
    on_line = lr.cell_polygon(diamond, [0.5, 0.5])  # on x1 + x2 = 1: its positive side,
    assert on_line is None  # the unbounded cell north-east of the diamond
    clipped = lr.cell_polygon(diamond, [0.5, 0.5], BOX)
    np.testing.assert_allclose(
        sorted(map(tuple, clipped)), [(0, 1), (1, 0), (1, 2), (2, 1), (2, 2)], atol=1e-12
    )
    np.testing.assert_allclose(
        lr.polygon_area(lr.cell_polygon(diamond, [0.5, 0.5], BOX)),
        lr.polygon_area(lr.cell_polygon(diamond, [1.0, 1.0], BOX)),
    )
    east = lr.cell_polygon(diamond, [3.0, 0.0], BOX)  # outside the box: its cell, clipped
    assert lr.polygon_area(east) == pytest.approx(1.0)
    beyond = lr.cell_polygon(np.array([(1.0, 0.0, -3.0)]), [5.0, 0.0], BOX)  # x1 >= 3
    assert beyond.shape == (0, 2) and lr.polygon_area(beyond) == 0.0
    assert lr.cell_polygon(diamond, [0.0, 0.0, 5.0]).shape == (4, 2)  # the first two inputs
    triangle = np.array(
        [(0, 1, 0), (1, -1, 0), (1, 1, -2)], float
    )  # x2 >= 0, x1 >= x2, x1 + x2 <= 2
    cell = lr.cell_polygon(triangle, [1.0, 0.5])
    np.testing.assert_allclose(sorted(map(tuple, cell)), [(0, 0), (1, 1), (2, 0)], atol=1e-12)
    assert lr.polygon_area(cell) == pytest.approx(1.0)
    assert lr.cell_polygon(triangle[:2], [1.0, 0.5]) is None  # two lines bound nothing
    half_strip = np.array([(1, 0, 0), (0, 1, 0), (1, 0, -1)], float)  # 0 <= x1 <= 1, x2 >= 0
    assert lr.cell_polygon(half_strip, [0.5, 0.5]) is None  # normals with a gap of exactly pi
    near = np.vstack([diamond, [(1, 1, -1.5)]])  # parallel to a side, 0.35 away
    assert lr.sides(near, lr.cell_polygon(near, [0.0, 0.0])) == [0, 1, 2, 3]
    assert lr.sides(np.vstack([diamond, [(0, 0, 1)]]), lr.cell_polygon(diamond, [0, 0])) == [
        0,
        1,
        2,
        3,
    ]
    unit = np.array([(1.0, 0.0, -1.0), (0.0, 1.0, -1.0), (-1.0, 0.0, -1.0), (0.0, -1.0, -1.0)])
    square = lr.cell_polygon(unit, [0.0, 0.0])  # |x1|, |x2| <= 1, from unit normals
    assert lr.sides(unit, square) == [0, 1, 2, 3] and lr.polygon_area(square) == pytest.approx(4)
