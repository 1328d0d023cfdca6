"""Zoo model cache: a cached model equals a fresh build bit for bit; bad entries are rebuilt."""

from __future__ import annotations

import pytest

from neurosim import experiment, zoo
from neurosim._cache import CACHE_ENV, cache_dir
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
