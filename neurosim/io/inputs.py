"""Input sets (``.npz`` with integer ``images`` or event ``spikes``, and optional ``labels``) and
bundled files."""

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
    """Read an inputs file: ``.npz`` with ``images`` [N, *shape] or ``spikes`` (0/1 event
    frames [T, N, *shape]), and optional ``labels`` [N]; other members are ignored.

    ``images`` are integer (or boolean) codes, or real values (a float dtype) that the model's
    input layer turns into codes (``ir.Input.quantize``, applied by
    ``experiment.resolve_model``). Spikes are returned batch first, [N, T, *shape] as uint8
    (what ``functional.run`` takes). Whether the codes fit the model's input layer is checked
    with the model (``ir.Network.check_codes``).

    Raises
    ------
    ModelError
        The file is missing, damaged or not an ``.npz``, neither or both of ``images`` and
        ``spikes``, or an array with the wrong dtype or shape (the message names the file and
        the array).
    """
    path = Path(path)
    arrays = read_npz(path, "inputs file")
    if "images" in arrays and "spikes" in arrays:
        raise ModelError(f"{path}: holds both 'images' and 'spikes'; keep one")
    if "spikes" in arrays:
        images = _spikes(path, arrays["spikes"])
    elif "images" in arrays:
        images = arrays["images"]
        if images.dtype.kind not in "biuf":
            raise ModelError(
                f"{path}: images must be integer codes or real values, got dtype {images.dtype}"
            )
        if images.ndim < 2:
            raise ModelError(
                f"{path}: images must be [samples, *shape] (at least 2 dimensions), got shape "
                f"{images.shape}"
            )
    else:
        raise ModelError(f"{path}: missing array 'images' or 'spikes' (found {sorted(arrays)})")
    labels = arrays.get("labels")
    if labels is not None:
        if labels.dtype.kind not in "iu":
            raise ModelError(f"{path}: labels must be integers, got dtype {labels.dtype}")
        if labels.shape != (len(images),):
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
