"""Zoo model cache: a cached model equals a fresh build bit for bit; bad entries are rebuilt."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zipfile

import pytest

from neurosim import experiment, ir, zoo
from neurosim._cache import CACHE_ENV, cache_dir
from neurosim.errors import ModelError
from tests.io.test_native import assert_networks_equal


def _entries(folder):
    return sorted((folder / "zoo").glob("*.npz")) if (folder / "zoo").exists() else []


def test_second_load_comes_from_the_cache_and_equals_a_fresh_build(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = experiment.load_network("zoo:resnet20")
    (entry,) = _entries(tmp_path)
    assert entry.name.startswith("resnet20_cifar10_")
    assert_networks_equal(first, zoo.build("resnet20"))

    def no_build(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded")

    monkeypatch.setattr(zoo, "build", no_build)
    assert_networks_equal(experiment.load_network("zoo:resnet20"), first)


def test_each_model_and_dataset_has_its_own_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    a = experiment.zoo_network("resnet20", "cifar10")
    b = experiment.zoo_network("resnet20", "cifar100")
    assert a.shapes["fc"] == (10,)
    assert b.shapes["fc"] == (100,)
    assert {tuple(p.name.split("_")[:2]) for p in _entries(tmp_path)} == {
        ("resnet20", "cifar10"),
        ("resnet20", "cifar100"),
    }


def test_a_corrupt_entry_is_rebuilt_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    good = experiment.zoo_network("resnet20")
    (entry,) = _entries(tmp_path)
    entry.write_bytes(b"not a model")
    assert_networks_equal(experiment.zoo_network("resnet20"), good)
    assert_networks_equal(experiment.io.load_model(entry), good)


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_turned_off_nothing_is_written(tmp_path, monkeypatch, value):
    monkeypatch.setenv(CACHE_ENV, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() is None
    experiment.zoo_network("resnet20")
    assert list(tmp_path.iterdir()) == []


def test_default_folder_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "neurosim"


def test_an_unwritable_cache_still_gives_the_model(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    assert_networks_equal(experiment.zoo_network("resnet20"), zoo.build("resnet20"))


# --------------------------------------------------------------------------------------------
# Names are checked before any lookup; entries are trusted by their content hash
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "zoo:../../evil/vgg16",
        "zoo:vgg16:../../../elsewhere/x",
        "zoo:",
        "zoo:vgg16:cifar10:extra",
        "zoo:/etc/passwd",
        "zoo:VGG16",
    ],
)
def test_a_zoo_name_is_checked_before_any_lookup(tmp_path, monkeypatch, spec):
    """``zoo:../../evil/vgg16`` used to read ``<cache>/zoo/../../evil/vgg16_…npz``: a model
    from outside the cache folder. Put a valid one there; it must not be served."""
    cache = tmp_path / "a" / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    parts = spec.split(":")
    name, dataset = parts[1], parts[2] if len(parts) > 2 else "cifar10"
    planted = cache / "zoo" / f"{name}_{dataset}_{experiment._zoo_key(name, dataset)}.npz"
    if name and ".." in name:
        # A model whose metadata claims that name: the old cache check would have served it.
        net = zoo.build("resnet20")
        net = ir.Network(
            layers=net.layers, kind="qann", meta={**net.meta, "zoo": name, "dataset": dataset}
        )
        experiment.io.save_model(net, planted.resolve(), compress=False)
        assert planted.resolve().is_file()
        assert not planted.resolve().is_relative_to(cache)

    def no_lookup(*args, **kwargs):
        raise AssertionError("nothing may be looked up for an invalid zoo name")

    monkeypatch.setattr(experiment, "_cached", no_lookup)
    monkeypatch.setattr(zoo, "build", no_lookup)
    with pytest.raises(ModelError, match=r"unknown zoo model|unknown dataset|expected zoo:NAME"):
        experiment.load_network(spec)


def _flip_first_member_byte(path):
    """Flip the last data byte of the first (stored) member: its CRC no longer matches."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_entry_is_trusted_only_when_its_bytes_match_the_recorded_hash(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    fresh = experiment.zoo_network("resnet20")
    (entry,) = _entries(tmp_path)
    digest = entry.with_name(entry.name + ".sha256")
    assert digest.read_text().strip() == hashlib.sha256(entry.read_bytes()).hexdigest()

    # A damaged entry (a bad CRC: BadZipFile on every run before) is rebuilt and rewritten.
    _flip_first_member_byte(entry)
    assert_networks_equal(experiment.zoo_network("resnet20"), fresh)
    assert digest.read_text().strip() == hashlib.sha256(entry.read_bytes()).hexdigest()

    # A valid file with the right name and metadata but other weights: the hash tells.
    tampered = [
        dataclasses.replace(lay, weight=-lay.weight) if lay.name == "fc" else lay
        for lay in fresh.layers
    ]
    net = ir.Network(layers=tuple(tampered), kind="qann", name=fresh.name, meta=fresh.meta)
    experiment.io.save_model(net, entry, compress=False)
    assert_networks_equal(experiment.zoo_network("resnet20"), fresh)

    # An entry without its hash is not trusted either.
    digest.unlink()
    built = []
    real = zoo.build
    monkeypatch.setattr(zoo, "build", lambda *a, **k: built.append(1) or real(*a, **k))
    assert_networks_equal(experiment.zoo_network("resnet20"), fresh)
    assert built == [1]
    assert digest.is_file()
