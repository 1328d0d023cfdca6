"""Input sets (``.npz`` with integer ``images`` and optional ``labels``) and bundled files."""

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
    """Read an inputs file: ``.npz`` with ``images`` and optional ``labels``.

    ``images`` are integer codes, or real values (a float dtype) that the model's input layer
    turns into codes (``ir.Input.quantize``, applied by ``experiment.resolve_model``)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such inputs file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data.files:
                raise ModelError(f"{path}: missing array 'images' (found {data.files})")
            images = np.asarray(data["images"])
            labels = np.asarray(data["labels"]) if "labels" in data.files else None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable .npz inputs file ({exc})") from None
    if labels is not None and labels.shape != (len(images),):
        raise ModelError(f"{path}: labels must be [{len(images)}], got {labels.shape}")
    return images, labels
