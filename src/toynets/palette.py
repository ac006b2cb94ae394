"""The house colours, one list for every figure (`toynets.plots.style`) and every page
(`toynets.explorer` hands them to the page's script with its data).

- classes: TensorFlow Playground's orange (class 0) and blue (class 1), then Okabe-Ito;
- series (train/test, one curve per p, ...): the Okabe-Ito colour-blind-safe cycle;
- a hidden unit on / off: bluish green / vermillion.
"""

CLASS_COLOURS = (
    "#f59322",  # class 0: Playground orange
    "#0877bd",  # class 1: Playground blue
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#e6c229",
    "#666666",
    "#000000",
    "#8c564b",
)
SERIES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")
ON, OFF = "#009e73", "#d55e00"


def colormap_stops(name: str, n: int = 17) -> list[str]:
    """`n` evenly spaced colours of matplotlib's colormap `name` as "#rrggbb": a page draws
    the same colormap as the figures by interpolating between them."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps[name]
    return [to_hex(cmap(i / (n - 1))) for i in range(n)]
