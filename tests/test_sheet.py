"""The contact sheet (`toynets runs sheet`, `python -m toynets.plots.sheet`): its justified
layout computed by hand, and sheets drawn from a real temporary store whose figures are single
colours, found back in the PNG where the layout puts them."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from conftest import run_cli, user_env
from toynets.plots import sheet
from toynets.plots.sheet import Box, justified_rows

# -- the layout, by hand ---------------------------------------------------------------------------


def assert_boxes(rows: list[list[Box]], expected: list[list[tuple[float, ...]]]) -> None:
    assert [len(row) for row in rows] == [len(row) for row in expected]
    for row, want in zip(rows, expected, strict=True):
        for box, box_want in zip(row, want, strict=True):
            assert box == pytest.approx(box_want), (rows, expected)


def test_one_row_fills_the_width_with_its_gap() -> None:
    # (10 - 1 gap) / (1 + 1) = 4.5, below the target 5: one row that spans the width
    assert_boxes(justified_rows([1, 1], 10, 5, 1), [[(0, 0, 4.5, 4.5), (5.5, 0, 4.5, 4.5)]])


def test_rows_break_where_heights_come_closest_to_the_target() -> None:
    # [2, 2] | [1, 1]: row 1 at (10 - 1) / 4 = 2.25 (cost 2 log(2.25/3)^2 = 0.17); the last row
    # would fill at 4.5 > 3, so it stays at 3, left-aligned. One row (1.17 high) costs 3.57,
    # [2] | [2, 1, 1] 0.75, [2] | [2] | [1, 1] 0.52.
    rows = justified_rows([2, 2, 1, 1], 10, 3, 1)
    assert_boxes(
        rows, [[(0, 0, 4.5, 2.25), (5.5, 0, 4.5, 2.25)], [(0, 3.25, 3, 3), (4, 3.25, 3, 3)]]
    )


def test_captions_are_left_free_above_each_row() -> None:
    rows = justified_rows([2, 2, 1, 1], 10, 3, 1, caption=0.5)
    assert [row[0].y for row in rows] == pytest.approx([0.5, 0.5 + 2.25 + 1 + 0.5])


def test_a_single_very_wide_image_spans_the_width() -> None:
    assert_boxes(justified_rows([20], 10, 3, 1), [[(0, 0, 10, 0.5)]])


def test_one_image_is_not_stretched_beyond_the_target() -> None:
    assert_boxes(justified_rows([1.5], 10, 3, 1), [[(0, 0, 4.5, 3)]])
    assert justified_rows([], 10, 3, 1) == []


def test_gaps_wider_than_the_page_leave_one_image_a_row() -> None:
    rows = justified_rows([1, 1, 1], 1, 1, 1)
    assert_boxes(rows, [[(0, 0, 1, 1)], [(0, 2, 1, 1)], [(0, 4, 1, 1)]])


def test_any_layout_keeps_order_aspects_gaps_and_fills_every_row_but_the_last() -> None:
    rng = np.random.default_rng(0)
    aspects = list(rng.uniform(0.5, 3.5, 23))
    targets = list(rng.uniform(1.5, 4.0, 23))
    width, gap, caption = 11.6, 0.12, 0.2
    rows = justified_rows(aspects, width, targets, gap, caption)
    boxes = [box for row in rows for box in row]
    assert len(rows) > 3
    assert [b.w / b.h for b in boxes] == pytest.approx(aspects)  # in order, shapes kept
    y = caption
    for number, row in enumerate(rows):
        assert all(b.y == pytest.approx(y) and b.h == pytest.approx(row[0].h) for b in row)
        assert row[0].x == 0
        for left, right in itertools.pairwise(row):
            assert right.x - (left.x + left.w) == pytest.approx(gap)
        end = row[-1].x + row[-1].w
        if number < len(rows) - 1:
            assert end == pytest.approx(width)
        else:
            assert end <= width + 1e-9
        y += row[0].h + gap + caption


def test_one_target_equals_the_same_target_for_each_image() -> None:
    aspects = [1.3, 2.0, 0.8, 1.8, 2.9, 1.0]
    assert justified_rows(aspects, 12, 2.5, 0.1) == justified_rows(aspects, 12, [2.5] * 6, 0.1)


@pytest.mark.parametrize(
    ("aspects", "width", "target", "gap"),
    [
        ([1, 0], 10, 3, 1),
        ([1, math.inf], 10, 3, 1),
        ([1], 0, 3, 1),
        ([1], 10, 0, 1),
        ([1], 10, 3, -1),
        ([1, 1], 10, [3], 1),
    ],
)
def test_impossible_layouts_are_refused(aspects, width, target, gap) -> None:
    with pytest.raises(ValueError):
        justified_rows(aspects, width, target, gap)


def test_loss_curves_and_decision_map_come_first_then_alphabetical() -> None:
    names = ["shapley", "decision_map", "grad_pdf", "loss_curves", "aa"]
    assert sheet.figure_order(names) == ["loss_curves", "decision_map", "aa", "grad_pdf", "shapley"]
    assert sheet.figure_order(["b", "decision_map", "a"]) == ["decision_map", "a", "b"]


# -- sheets of a real store ------------------------------------------------------------------------

# name -> (colour, size in inches): distinct colours, tall, square and wide figures
FIGURES = {
    "zeta": ((220, 30, 30), (4.0, 3.0)),
    "loss_curves": ((30, 160, 60), (9.0, 3.0)),
    "alpha": ((40, 70, 220), (3.0, 4.5)),
    "wide_grid": ((150, 60, 170), (12.0, 2.5)),
}
GIF_COLOURS = ((0, 0, 0), (240, 200, 20))  # frame 1 black, frame 2 yellow: the sheet shows yellow
RUN_NAME = "sheet test run"


def plain_figure(colour: tuple[int, int, int], inches: tuple[float, float]) -> Figure:
    """A figure that is one colour all over (no axes)."""
    return Figure(figsize=inches, facecolor=np.array(colour) / 255)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A store holding a run with the single-colour `FIGURES` and an animated GIF under
    figures/, and a run without figures: (uri, run id, id of the run without figures)."""
    from toynets import tracking

    root = tmp_path_factory.mktemp("sheet-store")
    (root / "mlruns").mkdir()
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with tracking.start_run(uri, "train", RUN_NAME) as rec:
        for name, (colour, inches) in FIGURES.items():
            rec.log_figure(plain_figure(colour, inches), name)
        frames = [Image.new("RGB", (300, 200), colour) for colour in GIF_COLOURS]
        gif = root / "movie.gif"
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
        rec.log_file(gif, "figures")
    with tracking.start_run(uri, "train", "no figures") as bare:
        bare.log_text("nothing to see", "notes.txt")
    return uri, rec.run_id, bare.run_id


def expected_page(uri: str, run_id: str, tmp_path: Path) -> tuple[list[str], sheet.Page]:
    """The names in sheet order and where the sheet puts them, from the logged files."""
    from toynets import runs

    run = runs.load(run_id, uri=uri, dst=tmp_path / "fetched")
    names = sheet.figure_order(list(run.figures))
    return names, sheet.place([sheet.read_figure(run.figures[n], n) for n in names])


PAGE_GREY = 237  # sheet.PAGE_COLOUR "0.93"


def assert_colour(pixels: np.ndarray, colour: tuple[int, ...], what: str) -> None:
    """Every pixel of `pixels` (RGB) is `colour`, give or take antialiasing's rounding."""
    off = np.abs(pixels.reshape(-1, 3).astype(int) - colour).max(axis=1)
    assert (off <= 6).all(), f"{what}: {(off > 6).mean():.1%} of pixels are not {colour}"


def test_the_sheet_shows_each_figure_where_the_layout_puts_it(
    logged: tuple[str, str, str], tmp_path: Path
) -> None:
    uri, run_id, _ = logged
    args = ("runs", "sheet", run_id, "-o", "out.png", "--uri", uri, "--width", "1200")
    result = run_cli(*args, cwd=tmp_path / "here")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "out.png"
    names, page = expected_page(uri, run_id, tmp_path)
    assert names == ["loss_curves", "alpha", "movie", "wide_grid", "zeta"]
    pixels = np.asarray(Image.open(tmp_path / "here" / "out.png").convert("RGB"))
    ppi = 1200 / sheet.PAGE_WIDTH
    assert pixels.shape[1] == 1200
    assert abs(pixels.shape[0] - page.height * ppi) <= 1
    colours = {name: colour for name, (colour, _) in FIGURES.items()} | {"movie": GIF_COLOURS[-1]}
    for name, box in zip(names, page.boxes, strict=True):
        x0, y0 = round(box.x * ppi), round(box.y * ppi)
        x1, y1 = round((box.x + box.w) * ppi), round((box.y + box.h) * ppi)
        assert_colour(pixels[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2], colours[name], name)
        # just left of and below the figure: the page (margin, gap between figures or rows)
        assert_colour(pixels[y0 + 2 : y1 - 2, x0 - 4 : x0 - 2], (PAGE_GREY,) * 3, f"left of {name}")
        assert_colour(pixels[y1 + 2 : y1 + 4, x0 + 2 : x1 - 2], (PAGE_GREY,) * 3, f"under {name}")
    # the figures are not stretched: each box keeps its figure's aspect ratio
    for name, box in zip(names, page.boxes, strict=True):
        if name in FIGURES:
            width, height = FIGURES[name][1]
            assert box.w / box.h == pytest.approx(width / height, rel=0.02)


def test_the_module_entry_point_is_the_same_command(
    logged: tuple[str, str, str], tmp_path: Path
) -> None:
    uri, run_id, _ = logged
    result = subprocess.run(
        [sys.executable, "-m", "toynets.plots.sheet", run_id, "--uri", uri, "--width", "600"],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    written = tmp_path / f"contact_sheet_{run_id[:8]}.png"
    assert result.stdout.strip() == written.name
    assert Image.open(written).size[0] == 600


def assert_refused(status: int, stderr: str, *expected: str) -> None:
    """Exit status 2 and one sentence (one line) on stderr holding each of `expected`."""
    said = f"exit {status}\nstderr: {stderr}"
    assert status == 2, said
    assert stderr.startswith("toynets runs: "), said
    assert len(stderr.strip().splitlines()) == 1, said
    for text in expected:
        assert text in stderr, said


def test_an_unknown_run_or_a_missing_store_is_refused_creating_nothing(
    logged: tuple[str, str, str], tmp_path: Path
) -> None:
    uri, run_id, _ = logged
    unknown = run_cli("runs", "sheet", "0123456789abcdef", "--uri", uri, cwd=tmp_path / "a")
    assert_refused(unknown.returncode, unknown.stderr, "'0123456789abcdef'", "no run")
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    result = run_cli("runs", "sheet", run_id, "--uri", missing, cwd=tmp_path / "b")
    assert_refused(result.returncode, result.stderr, "no store at", str(tmp_path / "nowhere"))
    assert not (tmp_path / "nowhere").exists()
    assert not list((tmp_path / "a").iterdir()) and not list((tmp_path / "b").iterdir())


@pytest.mark.parametrize(
    ("bare", "args", "expected"),
    [
        (False, ["-o", "no/such/x.png"], ["-o no/such/x.png", "no folder"]),
        (False, ["--width", "10"], ["--width 10", "300 to 12000"]),
        (True, [], ["no figures"]),
    ],
)
def test_a_bad_output_width_or_a_run_without_figures_is_refused(
    logged: tuple[str, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    bare: bool,
    args: list[str],
    expected: list[str],
) -> None:
    from toynets.cli import runs_main

    uri, run_id, bare_id = logged
    monkeypatch.chdir(tmp_path)
    status = runs_main(["sheet", bare_id if bare else run_id, "--uri", uri, *args])
    assert_refused(status, capsys.readouterr().err, *expected)
    assert not list(tmp_path.iterdir())
