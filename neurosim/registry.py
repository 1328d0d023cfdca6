"""One typed registry of records keyed by name: schemes, hardware families, importers and stall
causes are each a ``Registry`` (or a subclass adding its own rules).

A leaf module (each owner passes its ``errors`` class). A duplicate key is rejected, an unknown
one is an error of the owner's class that lists the known keys, and ``registered(record)`` adds
a record for the duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

DUPLICATE = "{what} {key!r} is registered already"
"""The default message of a rejected duplicate (``what`` and ``key`` are filled in)."""


class Registry(Generic[T]):
    """Key → record, in registration order (the order of tables, help texts and plots).

    Parameters
    ----------
    records
        Registered first, in order.
    key
        A record's key (e.g. its ``name``).
    what
        What a key names, for messages (``"scheme"``: ``unknown scheme 'x'; allowed: [...]``).
    error
        The class ``get`` raises for an unknown key (``ModelError``, ``ConfigError``…).
    duplicate
        The ValueError message of a duplicate key, a format of ``what`` and ``key``.
    """

    def __init__(
        self,
        records: Iterable[T] = (),
        *,
        key: Callable[[T], str],
        what: str,
        error: type[Exception],
        duplicate: str = DUPLICATE,
    ) -> None:
        self._key = key
        self._what = what
        self._error = error
        self._duplicate = duplicate
        self._records: dict[str, T] = {}
        for record in records:
            self.register(record)

    def check(self, record: T) -> None:
        """An owner's own rules for a new record (raise ValueError to refuse it); called after
        the duplicate check, before the record is added. Accepts every record here."""

    def register(self, record: T) -> T:
        """Add ``record``; ValueError for a duplicate key or a record ``check`` refuses."""
        key = self._key(record)
        if key in self._records:
            raise ValueError(self._duplicate.format(what=self._what, key=key))
        self.check(record)
        self._records[key] = record
        return record

    def unregister(self, key: str) -> None:
        """Remove the record of ``key``, if there is one."""
        self._records.pop(key, None)

    def get(self, key: str) -> T:
        """The record of ``key``; the owner's error class, listing the known keys, otherwise."""
        try:
            return self._records[key]
        except (KeyError, TypeError):
            raise self._error(
                f"unknown {self._what} {key!r}; allowed: {list(self._records)}"
            ) from None

    def find(self, key: str) -> T | None:
        """The record of ``key``, or None."""
        return self._records.get(key)

    def names(self) -> tuple[str, ...]:
        """The registered keys, in registration order."""
        return tuple(self._records)

    def records(self) -> tuple[T, ...]:
        """The registered records, in registration order."""
        return tuple(self._records.values())

    @contextlib.contextmanager
    def registered(self, record: T) -> Iterator[T]:
        """Register ``record`` for the duration of a ``with`` block (tests, extensions); it is
        removed again however the block ends."""
        self.register(record)
        try:
            yield record
        finally:
            self.unregister(self._key(record))

    def __iter__(self) -> Iterator[str]:
        """The keys, in registration order (a snapshot: the block may register records)."""
        return iter(tuple(self._records))

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self._records)})"
