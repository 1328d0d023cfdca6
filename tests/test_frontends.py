"""The importer registry: a model file of any registered format works wherever a model does."""

import json

import pytest

from neurosim import experiment, frontends, io
from neurosim.errors import ModelError
from neurosim.io import BUNDLED_MODEL, bundled_path


def _load_probe(path):
    """A stand-in format: a JSON file naming a native model file."""
    return io.load_model(json.loads(path.read_text())["native"])


PROBE = frontends.Importer(suffix=".probe", name="probe", load=_load_probe)


def test_a_registered_format_loads_everywhere(tmp_path):
    path = tmp_path / "m.probe"
    path.write_text(json.dumps({"native": str(bundled_path(BUNDLED_MODEL))}))
    with frontends.registered(PROBE):
        net, images, _ = experiment.resolve_model(
            str(path), str(bundled_path("digits_test.npz")), 3
        )
        assert net.name == io.load_model(bundled_path(BUNDLED_MODEL)).name
        assert len(images) == 3
        back, out = frontends.import_model(path, tmp_path / "m.npz")
        assert io.load_model(out).shapes == back.shapes
        with pytest.raises(ValueError, match="has an importer already"):
            frontends.REGISTRY.register(PROBE)
    with pytest.raises(ModelError, match=r"no importer for '\.probe'; model files may be \.npz"):
        frontends.load_model(path)


def test_native_files_take_no_import_options():
    with pytest.raises(ModelError, match="takes no import options"):
        frontends.load_model(bundled_path(BUNDLED_MODEL), weight_bits=8)
