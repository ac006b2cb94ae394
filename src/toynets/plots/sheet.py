"""A contact sheet: every figure of a run on one page, for review.

    python -m toynets.plots.sheet RUN_ID [--uri URI] [-o PATH] [--width PX]
    toynets runs sheet RUN_ID [--uri URI] [-o PATH] [--width PX]   (the same command)

The page is `PAGE_WIDTH` = `style.WIDE` (12 in) wide and saved at `--width` / 12 pixels per inch
(2400 px: the house `DPI` of 200). Figures keep their aspect ratio and sit in justified
rows (`justified_rows`), each under its name, in the run's order (`figure_order`), each shown
at about `SCALE` of its own size (so that their text comes out alike); the title gives the
run's name, its id and the number of figures. The page is light grey, so that each figure's
own white background shows where it ends.

Nothing here talks to MLflow: `toynets.cli` fetches the run's `figures/` folder
(`toynets.runs.download`) and hands its files to `write_sheet`.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox, TransformedBbox
from PIL import Image

from toynets.plots.style import DPI, FONT, SMALL, WIDE, house_style, save_png

PAGE_WIDTH = WIDE  # inches
MARGIN = 0.2  # inches around the page's content
GAP = 0.12  # inches between two figures of a row and between two rows
SCALE = 0.5  # figures are shown at about half their own size: a 7.5 in panel 3.75 in wide
ROW_HEIGHTS = (1.5, 5.0)  # inches: the least and most a figure's target height can be
CAPTION = SMALL * 1.5 / 72  # inches above each figure for its name
TITLE = ((FONT + 2) * 1.35 + SMALL * 1.5) / 72  # inches: the run's name, then id and count
PAGE_COLOUR = "0.93"
FIRST = ("loss_curves", "decision_map")  # shown before the others, which go alphabetically
WIDTHS = (300, 12000)  # pixels: the widths allowed (12000: ~25 s and 2.5 GB for 14 figures)


class Box(NamedTuple):
    """A rectangle in layout units: left edge, top edge (y grows downwards), width, height."""

    x: float
    y: float
    w: float
    h: float


def figure_order(names: Sequence[str]) -> list[str]:
    """The names in the order a sheet shows them: those of `FIRST` that are present (in that
    order), then the rest alphabetically."""
    first = [name for name in FIRST if name in names]
    return first + sorted(set(names) - set(first))


def justified_rows(
    aspects: Sequence[float],
    width: float,
    target_height: float | Sequence[float],
    gap: float,
    caption: float = 0.0,
) -> list[list[Box]]:
    """Boxes for images of the given aspect ratios (width / height), kept in order, in rows
    like a justified photo gallery.

    Each row is scaled so that its images, side by side with `gap` between them, span
    `width` exactly; the last row is instead drawn at its target height, left-aligned, when
    filling the width would make it taller than that. Rows stand `gap` apart, and above each
    row `caption` is left free (y of the first row's images = `caption`).

    `target_height` is one height for all images or one per image; a row's target is the
    geometric mean of its images'. Where the rows break is chosen (dynamic programming over
    the break points) to minimise the sum over all images of log(row height / the image's
    target)^2, so that every image comes out as close to its target height as the aspect
    ratios allow.
    """
    targets = _targets(target_height, len(aspects))
    if width <= 0 or gap < 0 or caption < 0:
        raise ValueError(f"need width > 0, gap >= 0, caption >= 0; got {width}, {gap}, {caption}")
    if any(not (a > 0 and math.isfinite(a)) for a in aspects):
        raise ValueError(f"aspect ratios must be finite and > 0, got {list(aspects)}")
    n = len(aspects)
    best = [0.0] + [math.inf] * n  # best[j]: the cost of laying out images [0, j)
    start = [0] * (n + 1)  # start[j]: where the last row of that best layout starts
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            height = _row_height(aspects[i:j], targets[i:j], width, gap, last=j == n)
            if height <= 0:  # the gaps alone are wider than the page: no longer rows either
                break
            cost = best[i] + sum(math.log(height / t) ** 2 for t in targets[i:j])
            if cost < best[j]:
                best[j], start[j] = cost, i
    breaks = [n]
    while breaks[-1] > 0:
        breaks.append(start[breaks[-1]])
    breaks.reverse()
    rows, top = [], 0.0
    for i, j in itertools.pairwise(breaks):
        height = _row_height(aspects[i:j], targets[i:j], width, gap, last=j == n)
        top += caption
        row, x = [], 0.0
        for aspect in aspects[i:j]:
            row.append(Box(x, top, aspect * height, height))
            x += aspect * height + gap
        rows.append(row)
        top += height + gap
    return rows


def _targets(target_height: float | Sequence[float], n: int) -> list[float]:
    """One target height per image, each checked to be > 0."""
    if isinstance(target_height, (int, float)):
        targets = [float(target_height)] * n
    else:
        targets = [float(t) for t in target_height]
        if len(targets) != n:
            raise ValueError(f"{len(targets)} target heights for {n} images")
    if any(not (t > 0 and math.isfinite(t)) for t in targets):
        raise ValueError(f"target heights must be finite and > 0, got {target_height}")
    return targets


def _row_height(
    aspects: Sequence[float], targets: Sequence[float], width: float, gap: float, last: bool
) -> float:
    """The height at which images of these aspect ratios plus the gaps between them span
    `width` (<= 0 where the gaps alone do); for the last row, at most the row's target (the
    geometric mean of `targets`)."""
    height = (width - gap * (len(aspects) - 1)) / sum(aspects)
    if last and height > 0:
        return min(height, math.exp(sum(map(math.log, targets)) / len(targets)))
    return height


class Panel(NamedTuple):
    """One figure of a sheet: its caption, its pixels (RGBA) and its size in inches as drawn
    (pixels / the file's pixels per inch)."""

    caption: str
    image: np.ndarray
    inches: tuple[float, float]  # width, height


def read_figure(path: Path, caption: str) -> Panel:
    """A figure file as a `Panel` (an animated GIF: its last frame, where the movie ends: the
    trained nets); the pixels per inch are the file's own (matplotlib writes them into a
    PNG), else the house `DPI`."""
    with Image.open(path) as image:
        image.seek(getattr(image, "n_frames", 1) - 1)
        pixels = np.asarray(image.convert("RGBA"))
        ppi = float(image.info.get("dpi", (DPI, DPI))[1]) or DPI
    height, width = pixels.shape[:2]
    return Panel(caption, pixels, (width / ppi, height / ppi))


def target_height(panel: Panel) -> float:
    """The height a figure aims at on the sheet (inches): `SCALE` x its own, within
    `ROW_HEIGHTS`; at one scale, the text of every figure comes out the same size."""
    low, high = ROW_HEIGHTS
    return min(max(SCALE * panel.inches[1], low), high)


class Page(NamedTuple):
    """Where a sheet puts its figures: the page's height and one box per figure, in inches
    from the page's top-left corner."""

    height: float
    boxes: list[Box]


def place(panels: Sequence[Panel]) -> Page:
    """The page of a sheet: the title block, then the panels in justified rows across the
    page between its margins, each aiming at its `target_height`."""
    aspects = [p.image.shape[1] / p.image.shape[0] for p in panels]
    targets = [target_height(p) for p in panels]
    rows = justified_rows(aspects, PAGE_WIDTH - 2 * MARGIN, targets, GAP, CAPTION)
    top = MARGIN + TITLE + GAP
    boxes = [Box(MARGIN + b.x, top + b.y, b.w, b.h) for row in rows for b in row]
    return Page(max((b.y + b.h for b in boxes), default=top) + MARGIN, boxes)


@house_style
def contact_sheet(panels: Sequence[Panel], title: str, subtitle: str) -> Figure:
    """A page `PAGE_WIDTH` wide: `title` and `subtitle` at the top, then each panel under its
    caption where `place` puts it, in the order given (order them with `figure_order`)."""
    height, boxes = place(panels)
    fig = Figure(figsize=(PAGE_WIDTH, height), layout="none", facecolor=PAGE_COLOUR)

    def frac(x: float, y: float) -> tuple[float, float]:
        """Inches from the page's top-left corner -> figure fraction (origin bottom-left)."""
        return x / PAGE_WIDTH, 1 - y / height

    fig.text(*frac(MARGIN, MARGIN), title, va="top", fontsize=FONT + 2, weight="bold")
    below = MARGIN + (FONT + 2) * 1.35 / 72
    fig.text(*frac(MARGIN, below), subtitle, va="top", fontsize=SMALL, color="0.25")
    for panel, box in zip(panels, boxes, strict=True):
        left, bottom = frac(box.x, box.y + box.h)
        ax = fig.add_axes((left, bottom, box.w / PAGE_WIDTH, box.h / height))
        ax.imshow(panel.image, interpolation="antialiased", aspect="auto")
        ax.set_axis_off()
        label = fig.text(*frac(box.x, box.y - 0.02), panel.caption, va="bottom", fontsize=SMALL)
        # a long caption stops at its figure's right edge instead of running into the next one
        column = Bbox([(left, 0.0), (left + box.w / PAGE_WIDTH, 1.0)])
        label.set_clip_box(TransformedBbox(column, fig.transFigure))
    return fig


def write_sheet(
    figures: Mapping[str, Path], run_name: str, run_id: str, output: Path, width: int
) -> Path:
    """The contact sheet of a run's figure files (name -> PNG or GIF path), saved as a PNG
    `width` pixels wide at `output`; returns `output`."""
    names = figure_order(list(figures))
    panels = [read_figure(figures[name], _caption(name, figures[name])) for name in names]
    count = f"{len(names)} figure" + ("" if len(names) == 1 else "s")
    fig = contact_sheet(panels, run_name or "(unnamed run)", f"run {run_id} · {count}")
    save_png(fig, output, dpi=width / PAGE_WIDTH)
    return output


def _caption(name: str, path: Path) -> str:
    return f"{name} (GIF, last frame)" if path.suffix.lower() == ".gif" else name


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m toynets.plots.sheet ARGS`: the same command as `toynets runs sheet ARGS`."""
    import os

    from toynets.cli import runs_main

    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")  # as `toynets` sets it
    return runs_main(["sheet", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
