"""Figures drawn from arrays (matplotlib, Agg backend); no computation beyond layout."""

import matplotlib

matplotlib.use("Agg")
