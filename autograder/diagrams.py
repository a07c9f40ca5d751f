"""Network diagrams for the notebooks, drawn with matplotlib (no graphviz binary needed).

``draw_network([2, 3, 1])`` draws the lesson's picture of a fully connected network:
one column of circles per layer, every neuron joined to every neuron of the next
layer. Wide layers (784 pixels, 128 hidden units) show their first and last few
neurons with a gap marked by dots and the true size written under the column.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

INPUT_COLOUR = "#9ecae1"
HIDDEN_COLOUR = "#a1d99b"
OUTPUT_COLOUR = "#fc9272"


def _shown_positions(size: int, max_shown: int) -> tuple[list[float], bool]:
    """Vertical positions of the neurons drawn for a layer, and whether some are elided."""
    if size <= max_shown:
        return [i - (size - 1) / 2 for i in range(size)], False
    half = max_shown // 2
    slots = [*range(half), *range(half + 1, max_shown + 1)]  # one slot left for the dots
    return [slot - max_shown / 2 for slot in slots], True


def _colour(index: int, n_layers: int) -> str:
    if index == 0:
        return INPUT_COLOUR
    return OUTPUT_COLOUR if index == n_layers - 1 else HIDDEN_COLOUR


def default_labels(n_layers: int) -> list[str]:
    """ "input", "hidden 1", ..., "output"."""
    hidden = [f"hidden {i}" for i in range(1, n_layers - 1)]
    return ["input", *hidden, "output"]


def draw_network(
    layer_sizes: Sequence[int],
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    max_shown: int = 8,
) -> Axes:
    """Draw a fully connected network with ``layer_sizes[i]`` neurons in layer ``i``.

    ``labels`` names the columns (default: input, hidden 1, ..., output); layers with
    more than ``max_shown`` neurons are drawn elided. Returns the axes drawn on.
    """
    sizes = [int(size) for size in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError("a network needs at least two layers of at least one neuron each")
    names = list(labels) if labels is not None else default_labels(len(sizes))
    if len(names) != len(sizes):
        raise ValueError(f"{len(names)} labels for {len(sizes)} layers")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.8 * len(sizes) + 1, 4))
    columns = [_shown_positions(size, max_shown) for size in sizes]
    height = max(len(positions) for positions, _ in columns)
    step = max(1.6, 0.45 * height)  # columns spread out as layers get taller
    for x, ((left, _), (right, _)) in enumerate(itertools.pairwise(columns)):
        for y_from in left:
            for y_to in right:
                ax.plot(
                    [x * step, (x + 1) * step], [y_from, y_to], color="#bbbbbb", lw=0.6, zorder=1
                )
    for x, ((positions, elided), size, name) in enumerate(zip(columns, sizes, names, strict=True)):
        colour = _colour(x, len(sizes))
        for y in positions:
            neuron = plt.Circle((x * step, y), 0.3, facecolor=colour, edgecolor="black", zorder=2)
            ax.add_patch(neuron)
        if elided:
            gap = min(p for p in positions if p > 0) - 1
            ax.text(x * step, gap, "⋮", ha="center", va="center", fontsize=14)
        ax.text(x * step, -height / 2 - 0.4, f"{name}\n{size}", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.8, (len(sizes) - 1) * step + 0.8)
    ax.set_ylim(-height / 2 - 1.6, height / 2 + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
