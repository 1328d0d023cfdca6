"""Input sets (``.npz`` with integer ``images`` and optional ``labels``) and bundled files."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from neurosim.errors import ModelError
from neurosim.io.archive import read_npz

BUNDLED_MODEL = "digits.qann.npz"
"""The bundled quantized digits CNN (see ``scripts/train_digits.py``)."""
BUNDLED_TEST_SET = "digits_test.npz"
"""Its 540 held-out test images (codes 0..16) and labels."""


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``neurosim.data``."""
    return Path(str(resources.files("neurosim.data").joinpath(name)))


def load_inputs(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an inputs file: ``.npz`` with ``images`` (integer codes) and optional ``labels``.

    ``images`` is an integer (or boolean) array [samples, *sample shape]; ``labels`` an integer
    vector [samples]. Other members are ignored. Whether the codes fit the model's input layer
    is checked with the model (``ir.Network.check_codes``).

    Raises
    ------
    ModelError
        The file is missing, damaged or not an ``.npz``, ``images`` is missing, or an array
        has the wrong dtype or shape (the message names the file and the array).
    """
    path = Path(path)
    arrays = read_npz(path, "inputs file")
    if "images" not in arrays:
        raise ModelError(f"{path}: missing array 'images' (found {sorted(arrays)})")
    images = arrays["images"]
    labels = arrays.get("labels")
    if images.dtype.kind not in "biu":
        raise ModelError(f"{path}: images must be integer codes, got dtype {images.dtype}")
    if images.ndim < 2:
        raise ModelError(
            f"{path}: images must be [samples, *shape] (at least 2 dimensions), got shape "
            f"{images.shape}"
        )
    if labels is not None:
        if labels.dtype.kind not in "iu":
            raise ModelError(f"{path}: labels must be integers, got dtype {labels.dtype}")
        if labels.shape != (len(images),):
            raise ModelError(f"{path}: labels must be [{len(images)}], got {labels.shape}")
    return images, labels
