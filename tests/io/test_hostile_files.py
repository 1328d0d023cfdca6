"""Damaged and hostile model and inputs files: every one a ModelError naming file and field.

Each case is one the fuzz campaign (``scripts/fuzz.py``) found raising an untyped exception
(``BadZipFile``, ``zlib.error``, ``EOFError``, ``OSError``, ``NotImplementedError``,
``RecursionError``, ``OverflowError``...) or allocating what the file could not hold.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from neurosim.errors import ModelError
from neurosim.io import load_inputs, load_model, save_model
from neurosim.io.archive import read_npz
from tests.conftest import random_qann


@pytest.fixture
def model_bytes(tmp_path) -> bytes:
    """An uncompressed native model file of a small quantized ANN."""
    return save_model(random_qann(3), tmp_path / "seed.npz", compress=False).read_bytes()


@pytest.fixture
def inputs_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, images=np.zeros((2, 1, 4, 4), np.int64), labels=np.array([0, 1]))
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _lying_npy(shape: tuple[int, ...]) -> bytes:
    """A .npy member whose header declares ``shape`` (int64) over 16 bytes of data."""
    header = f"{{'descr': '<i8', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 16


def _flip_data_byte(data: bytes) -> bytes:
    """Flip one byte inside the first member's data (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.infolist()[0]
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    pos = info.header_offset + 30 + name_len + extra_len + info.compress_size - 1
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]


def _unknown_method(data: bytes) -> bytes:
    """Set the compression method of every entry to 99 (zipfile: NotImplementedError)."""
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            out[i + offset : i + offset + 2] = struct.pack("<H", 99)
            start = i + 4
    return bytes(out)


def _corrupt_deflate(data: bytes) -> bytes:
    members = _members(data)
    blob = _zip(members, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        info = z.infolist()[0]
    start = info.header_offset + 30 + len(info.filename)
    return blob[:start] + b"\xff" * 8 + blob[start + 8 :]


DAMAGE = {
    "flipped data byte (CRC)": _flip_data_byte,
    "truncated": lambda d: d[: len(d) // 2],
    "empty file": lambda d: b"",
    "random bytes": lambda d: bytes(range(256)) * 4,
    "unknown compression method": _unknown_method,
    "corrupt deflate stream": _corrupt_deflate,
    "directory cut off": lambda d: d[: d.rfind(b"PK\x01\x02")],
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", ["model", "inputs"])
def test_damaged_archives_are_model_errors_naming_the_file(
    tmp_path, model_bytes, inputs_bytes, kind, damage
):
    path = tmp_path / f"{kind}.npz"
    path.write_bytes(DAMAGE[damage](model_bytes if kind == "model" else inputs_bytes))
    load = load_model if kind == "model" else load_inputs
    with pytest.raises(ModelError) as excinfo:
        load(path)
    assert str(path) in str(excinfo.value)


def test_a_declared_shape_larger_than_the_member_is_refused_before_allocating(
    tmp_path, model_bytes
):
    members = _members(model_bytes)
    name = next(n for n in members if n.endswith("weight.npy"))
    members[name] = _lying_npy((10**6, 10**6))
    path = tmp_path / "m.npz"
    path.write_bytes(_zip(members))
    tracemalloc.start()
    try:
        with pytest.raises(
            ModelError, match=r"declares shape \(1000000, 1000000\).*holds 16 bytes"
        ):
            load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20  # no 8 TB (nor any large) array was allocated


def test_a_deflated_member_claiming_more_than_deflate_can_expand_is_refused(tmp_path):
    blob = _zip({"images.npy": _npy(np.zeros(1000, np.int64))}, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        info = z.infolist()[0]
    # Patch the uncompressed size in the central directory to 1 TB.
    cd = blob.rfind(b"PK\x01\x02")
    lie = blob[: cd + 24] + struct.pack("<I", 2**32 - 1) + blob[cd + 28 :]
    path = tmp_path / "i.npz"
    path.write_bytes(lie)
    with pytest.raises(ModelError, match=str(path)):
        load_inputs(path)
    assert info.compress_size < 1000


def test_object_and_structured_members_are_refused(tmp_path):
    for arr, message in (
        (np.array([{"a": 1}], dtype=object), "object arrays"),
        (np.zeros(3, [("a", "<i4"), ("b", "<f8")]), "dtype .* is not allowed"),
        (np.zeros(3, "V4"), "dtype .* is not allowed"),
        (np.array(["ab"]), "dtype .* is not allowed"),
    ):
        path = tmp_path / "x.npz"
        path.write_bytes(_zip({"images.npy": _npy(arr)}))
        with pytest.raises(ModelError, match=rf"member 'images.npy': {message}"):
            read_npz(path, "inputs file")


def test_an_npy_file_where_an_npz_is_expected(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(_npy(np.zeros(3)))
    for load in (load_model, load_inputs):
        with pytest.raises(ModelError, match=r"a \.npy file \(one array\); a .* is an \.npz"):
            load(path)


def test_a_folder_or_a_device_is_not_read(tmp_path):
    (tmp_path / "m.npz").mkdir()
    with pytest.raises(ModelError, match="a folder"):
        load_model(tmp_path / "m.npz")
    with pytest.raises(ModelError, match="not a regular file"):
        load_inputs("/dev/zero")


def _with_header(model_bytes: bytes, header_text: str | bytes) -> bytes:
    members = _members(model_bytes)
    raw = header_text.encode() if isinstance(header_text, str) else header_text
    members["__header__.npy"] = _npy(np.frombuffer(raw, np.uint8))
    return _zip(members)


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_header_nested_deep_is_a_model_error(tmp_path, model_bytes, depth):
    path = tmp_path / "m.npz"
    path.write_bytes(_with_header(model_bytes, "[" * depth + "]" * depth))
    with pytest.raises(ModelError, match=str(path)):
        load_model(path)


def _edit(header: dict, layer: str, key: str, value) -> dict:
    for lay in header["layers"]:
        if lay["name"] == layer:
            if "." in key:
                outer, inner = key.split(".")
                lay[outer][inner] = value
            else:
                lay[key] = value
    return header


WRONG_TYPES = [
    ("conv1", "op", ["conv2d"], r"layers\[1\]\.op: unknown op \['conv2d'\]"),
    ("conv1", "weight", {"w": 1}, r"layer 'conv1'\.weight: expected an array reference"),
    ("conv1", "weight", {"array": ["x"]}, r"layer 'conv1'\.weight: expected an array reference"),
    ("conv1", "stride", float("inf"), r"layer 'conv1'\.stride: must be an integer"),
    ("conv1", "stride", {"array": "conv1/weight"}, r"layer 'conv1'\.stride: must be an integer"),
    ("input", "scale", 10**400, r"layer 'input'\.scale: must be a finite number"),
    ("conv1", "act.leak", "x", r"layer 'conv1'\.act\.leak: must be a finite number"),
    ("conv1", "weight_scale", "0.01", r"layer 'conv1'\.weight_scale: expected an array"),
    ("conv1", "act.levels", 1.5, r"layer 'conv1'\.act\.levels: must be an integer"),
    ("conv1", "act.clip", float("nan"), r"layer 'conv1'\.act\.clip: must be a finite number"),
    ("conv1", "inputs", "input", r"layer 'conv1'\.inputs: must be a list of layer names"),
]


@pytest.mark.parametrize(("layer", "key", "value", "message"), WRONG_TYPES)
def test_a_field_of_the_wrong_json_type_names_file_and_field(
    tmp_path, model_bytes, layer, key, value, message
):
    header = json.loads(bytes(read_npz("seed", "model", data=model_bytes)["__header__"]).decode())
    text = json.dumps(_edit(header, layer, key, value))  # inf and nan become Infinity and NaN
    path = tmp_path / "m.npz"
    path.write_bytes(_with_header(model_bytes, text))
    with pytest.raises(ModelError, match=message) as excinfo:
        load_model(path)
    assert str(excinfo.value).startswith(f"{path}: ")


def test_invalid_utf8_header(tmp_path, model_bytes):
    path = tmp_path / "m.npz"
    path.write_bytes(_with_header(model_bytes, b'{"format": "neurosim-model", \xff\xfe'))
    with pytest.raises(ModelError, match=r"'__header__' is not valid JSON"):
        load_model(path)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.array(7), None, r"images must be \[samples, \*shape\]"),
        (np.zeros((2, 3), "V4"), None, r"dtype \|V4 is not allowed"),
        (np.zeros((2, 1, 4, 4), np.int64), np.zeros(3, np.int64), r"labels must be \[2\]"),
        (np.zeros((2, 1, 4, 4), np.int64), np.zeros(2), "labels must be integers"),
    ],
)
def test_inputs_with_the_wrong_dtype_or_shape(tmp_path, images, labels, message):
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    path = tmp_path / "i.npz"
    path.write_bytes(_zip({f"{k}.npy": _npy(v) for k, v in arrays.items()}))
    with pytest.raises(ModelError, match=message) as excinfo:
        load_inputs(path)
    assert str(excinfo.value).startswith(f"{path}: ")


def test_read_npz_returns_writable_arrays_equal_to_numpy(tmp_path, model_bytes):
    ours = read_npz("m", "model file", data=model_bytes)
    with np.load(io.BytesIO(model_bytes)) as theirs:
        assert sorted(ours) == sorted(theirs.files)
        for key in theirs.files:
            np.testing.assert_array_equal(ours[key], theirs[key])
            assert ours[key].dtype == theirs[key].dtype
            assert ours[key].flags.writeable
