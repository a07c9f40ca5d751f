"""Network diagrams: one circle per drawn neuron, wide layers elided, bad sizes refused."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Circle

from autograder.diagrams import draw_network


def _circles(ax) -> int:
    return sum(isinstance(patch, Circle) for patch in ax.patches)


def test_small_network_draws_every_neuron_and_every_connection():
    ax = draw_network([2, 3, 1])
    assert _circles(ax) == 6
    assert len(ax.lines) == 2 * 3 + 3 * 1
    plt.close("all")


def test_wide_layers_are_elided_and_labelled_with_their_true_size():
    ax = draw_network([784, 128, 64, 10], max_shown=6)
    assert _circles(ax) == 4 * 6
    texts = [text.get_text() for text in ax.texts]
    assert "input\n784" in texts and "output\n10" in texts
    assert texts.count("⋮") == 4
    plt.close("all")


@pytest.mark.parametrize("sizes", [[3], [2, 0, 1]])
def test_invalid_sizes_are_refused(sizes):
    with pytest.raises(ValueError):
        draw_network(sizes)
