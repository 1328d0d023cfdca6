"""Reading ``.npz`` archives (model and inputs files) without trusting them.

Imports ``errors`` only. ``numpy.load`` trusts a file: a damaged zip raises whatever ``zipfile``
or ``zlib`` raise, and a member's ``.npy`` header may declare a shape far larger than the
member, which numpy allocates before it reads a byte. ``read_npz`` checks each member's
declared size against the archive first (a stored member holds exactly its bytes, a deflated
one at most ``MAX_DEFLATE_RATIO`` times its compressed size), accepts only boolean, integer and
floating-point arrays (never pickled objects), and turns every failure into a ``ModelError``
naming the file and the member.
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from neurosim.errors import ModelError

MAX_DEFLATE_RATIO = 1032
"""Largest expansion of deflate (RFC 1951: a 258-byte match costs at least two bits)."""

NUMERIC_KINDS = "biuf"
"""numpy dtype kinds an archive member may have: booleans, integers, floats."""

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"

_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    SyntaxError,
    RecursionError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
    UnicodeError,
    KeyError,
    TypeError,
)
"""What ``zipfile``, ``zlib`` and ``numpy.lib.format`` raise on damaged input."""


def regular_file(path: Path, what: str) -> None:
    """ModelError unless ``path`` is an existing regular file (not a folder or a device)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelError(f"{path}: cannot read the {what}: {reason}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ModelError(f"{path}: {kind}; expected a {what} (.npz)")


def read_npz(
    path: str | os.PathLike, what: str, *, data: bytes | None = None
) -> dict[str, np.ndarray]:
    """Every member of an ``.npz`` archive as a writable array, checked before allocation.

    Parameters
    ----------
    path
        The file (named in every message); read unless ``data`` is given.
    what
        What the file is, for messages (``"model file"``, ``"inputs file"``).
    data
        The file's bytes, when the caller has read them already (e.g. to hash them).

    Raises
    ------
    ModelError
        Not a regular file, not a zip archive (an ``.npy`` file is named as such), a damaged
        archive or member, a member that is not an ``.npy`` array, an object or structured
        dtype, or a declared shape the member's bytes cannot hold.
    """
    path = Path(path)
    if data is None:
        regular_file(path, what)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not data:
        raise ModelError(f"{path}: the {what} is empty")
    if data.startswith(_NPY_MAGIC):
        raise ModelError(
            f"{path}: a .npy file (one array); a {what} is an .npz archive of named arrays "
            f"(numpy.savez)"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise ModelError(f"{path}: not an .npz archive (no zip signature); expected a {what}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ModelError(f"{path}: the archive names a member twice")
            return {
                info.filename[: -len(".npy")]: _member(archive, info, path, len(data))
                for info in infos
            }
    except ModelError:
        raise
    except _READ_ERRORS as exc:
        raise ModelError(f"{path}: damaged .npz archive ({_reason(exc)})") from None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, size: int) -> np.ndarray:
    name = info.filename
    where = f"{path}: member '{name}'"
    if not name.endswith(".npy") or info.is_dir():
        raise ModelError(f"{where}: not an array (.npy); an .npz holds only arrays")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise ModelError(
                f"{where}: stored member claims {info.file_size} bytes in {info.compress_size}"
            )
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 1024:
            raise ModelError(
                f"{where}: claims {info.file_size} bytes from {info.compress_size} compressed "
                f"bytes, more than deflate can expand"
            )
    else:
        raise ModelError(
            f"{where}: compression method {info.compress_type} is not supported "
            f"(numpy.savez stores or deflates)"
        )
    if info.compress_size > size:
        raise ModelError(f"{where}: claims more compressed bytes than the file holds")
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ModelError(f"{where}: unsupported .npy format version {version}")
            _check_dtype(dtype, where)
            count = math.prod(shape)
            need = count * dtype.itemsize
            have = info.file_size - fh.tell()
            if need != have:
                raise ModelError(
                    f"{where}: declares shape {tuple(shape)} of {dtype} ({need} bytes) but "
                    f"holds {have} bytes"
                )
            out = np.empty(count, dtype)
            view = memoryview(out).cast("B")
            got = 0
            while got < need:
                n = fh.readinto(view[got:])
                if not n:
                    raise ModelError(f"{where}: ends after {got} of {need} bytes")
                got += n
            fh.read(1)  # reach the end, where zipfile checks the CRC
    except ModelError:
        raise
    except _READ_ERRORS as exc:
        raise ModelError(f"{where}: damaged ({_reason(exc)})") from None
    return out.reshape(shape, order="F" if fortran else "C")


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.hasobject:
        raise ModelError(f"{where}: object arrays (pickled data) are not allowed")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelError(
            f"{where}: dtype {dtype} is not allowed; arrays hold booleans, integers or floats"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
