"""Input sets (``.npz`` with integer ``images`` or event ``spikes``, and optional ``labels``) and
bundled files."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from neurosim.errors import ModelError

BUNDLED_MODEL = "digits.qann.npz"
"""The bundled quantized digits CNN (see ``scripts/train_digits.py``)."""
BUNDLED_TEST_SET = "digits_test.npz"
"""Its 540 held-out test images (codes 0..16) and labels."""


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``neurosim.data``."""
    return Path(str(resources.files("neurosim.data").joinpath(name)))


def load_inputs(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an inputs file: ``.npz`` with ``images`` [N, *shape] or ``spikes``
    (0/1 event frames [T, N, *shape]), and optional ``labels`` [N].

    ``images`` are integer codes, or real values (a float dtype) that the model's input layer
    turns into codes (``ir.Input.quantize``, applied by ``experiment.resolve_model``). Spikes
    are returned batch first, [N, T, *shape] as uint8 (what ``functional.run`` takes).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such inputs file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" in data.files and "spikes" in data.files:
                raise ModelError(f"{path}: holds both 'images' and 'spikes'; keep one")
            if "spikes" in data.files:
                images = _spikes(path, np.asarray(data["spikes"]))
            elif "images" in data.files:
                images = np.asarray(data["images"])
            else:
                raise ModelError(f"{path}: missing array 'images' or 'spikes' (found {data.files})")
            labels = np.asarray(data["labels"]) if "labels" in data.files else None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable .npz inputs file ({exc})") from None
    if labels is not None and labels.shape != (len(images),):
        raise ModelError(f"{path}: labels must be [{len(images)}], got {labels.shape}")
    return images, labels


def _spikes(path: Path, spikes: np.ndarray) -> np.ndarray:
    """File spikes [T, N, ...] of 0/1 → uint8 [N, T, ...]."""
    if spikes.ndim < 3:
        raise ModelError(f"{path}: spikes must be [T, N, *shape], got shape {spikes.shape}")
    if spikes.dtype != np.bool_ and not np.issubdtype(spikes.dtype, np.integer):
        raise ModelError(f"{path}: spikes must be 0/1 integers or booleans, got {spikes.dtype}")
    if spikes.size and (spikes.min() < 0 or spikes.max() > 1):
        raise ModelError(
            f"{path}: spikes must be 0 or 1, got values in [{spikes.min()}, {spikes.max()}]"
        )
    return np.ascontiguousarray(np.swapaxes(spikes.astype(np.uint8), 0, 1))
