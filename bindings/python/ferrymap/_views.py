"""The views Map.keys(), values() and items() return.

They are the standard ``collections.abc`` views (set operations, ``in``,
``len``), except that iterating one iterates a snapshot of the map (native
``MapIterator``), so a concurrent writer can never make it fail or see a
half-changed map.
"""

from collections.abc import ItemsView as _ItemsView
from collections.abc import Iterator
from collections.abc import KeysView as _KeysView
from collections.abc import ValuesView as _ValuesView
from typing import Any, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


def _mapping_of(view: object) -> Any:
    return view._mapping  # type: ignore[attr-defined]


class KeysView(_KeysView[_K]):
    __slots__ = ()

    def __iter__(self) -> Iterator[_K]:
        return iter(_mapping_of(self))

    def __repr__(self) -> str:
        return f"ferrymap.KeysView({list(self)!r})"


class ValuesView(_ValuesView[_V]):
    __slots__ = ()

    def __iter__(self) -> Iterator[_V]:
        it: Iterator[_V] = _mapping_of(self)._iter_values()
        return it

    def __repr__(self) -> str:
        return f"ferrymap.ValuesView({list(self)!r})"


class ItemsView(_ItemsView[_K, _V]):
    __slots__ = ()

    def __iter__(self) -> Iterator[tuple[_K, _V]]:
        it: Iterator[tuple[_K, _V]] = _mapping_of(self)._iter_items()
        return it

    def __repr__(self) -> str:
        return f"ferrymap.ItemsView({list(self)!r})"
