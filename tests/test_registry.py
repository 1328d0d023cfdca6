"""The generic registry every owner (schemes, families, importers, stall causes) is built on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from neurosim.errors import ConfigError
from neurosim.registry import Registry


@dataclass(frozen=True)
class Fruit:
    name: str
    colour: str = ""


def _fruits() -> Registry[Fruit]:
    return Registry(
        (Fruit("apple"), Fruit("pear")), key=lambda f: f.name, what="fruit", error=ConfigError
    )


def test_records_in_registration_order():
    reg = _fruits()
    reg.register(Fruit("fig"))
    assert reg.names() == ("apple", "pear", "fig")
    assert tuple(reg) == ("apple", "pear", "fig")
    assert [f.name for f in reg.records()] == ["apple", "pear", "fig"]
    assert len(reg) == 3
    assert "pear" in reg
    assert "kiwi" not in reg
    assert reg.get("pear") == Fruit("pear")
    assert reg.find("pear") == Fruit("pear")
    assert reg.find("kiwi") is None
    assert repr(reg) == "Registry(('apple', 'pear', 'fig'))"


def test_duplicate_rejected_and_the_first_kept():
    reg = _fruits()
    with pytest.raises(ValueError, match=r"^fruit 'apple' is registered already$"):
        reg.register(Fruit("apple", "red"))
    assert reg.get("apple").colour == ""
    assert reg.names() == ("apple", "pear")


def test_owner_worded_duplicate():
    reg = Registry(
        (Fruit(".a"),),
        key=lambda f: f.name,
        what="suffix",
        error=ConfigError,
        duplicate="suffix {key!r} has an importer already",
    )
    with pytest.raises(ValueError, match=r"^suffix '\.a' has an importer already$"):
        reg.register(Fruit(".a"))


def test_unknown_name_error_lists_the_known_ones():
    reg = _fruits()
    with pytest.raises(ConfigError) as info:
        reg.get("kiwi")
    assert str(info.value) == "unknown fruit 'kiwi'; allowed: ['apple', 'pear']"
    with pytest.raises(ConfigError, match=r"^unknown fruit None; allowed"):
        reg.get(None)
    with pytest.raises(ConfigError, match=r"^unknown fruit \['apple'\]; allowed"):
        reg.get(["apple"])  # unhashable: the same error, not a TypeError


def test_check_refuses_after_the_duplicate_check():
    class Coloured(Registry[Fruit]):
        def check(self, record: Fruit) -> None:
            if not record.colour:
                raise ValueError(f"fruit {record.name!r} needs a colour")

    reg = Coloured((Fruit("apple", "red"),), key=lambda f: f.name, what="fruit", error=KeyError)
    with pytest.raises(ValueError, match="'plum' needs a colour"):
        reg.register(Fruit("plum"))
    with pytest.raises(ValueError, match="registered already"):
        reg.register(Fruit("apple"))
    assert reg.names() == ("apple",)
    assert repr(reg) == "Coloured(('apple',))"


def test_unregister_keeps_the_others_in_order():
    reg = _fruits()
    reg.register(Fruit("fig"))
    reg.unregister("pear")
    reg.unregister("kiwi")  # not registered: nothing happens
    assert reg.names() == ("apple", "fig")


def test_registered_restores_state_even_when_the_block_raises():
    reg = _fruits()
    with reg.registered(Fruit("fig")) as fig:
        assert fig == Fruit("fig")
        assert reg.names() == ("apple", "pear", "fig")
    assert reg.names() == ("apple", "pear")
    seen = []

    def fails() -> None:
        with reg.registered(Fruit("fig")):
            seen.append(reg.names())
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert seen == [("apple", "pear", "fig")]
    assert reg.names() == ("apple", "pear")


def test_registered_duplicate_leaves_the_original():
    """A refused ``registered`` must not remove the record already under that key."""
    reg = _fruits()
    with pytest.raises(ValueError, match="registered already"), reg.registered(Fruit("apple")):
        pass
    assert reg.names() == ("apple", "pear")
