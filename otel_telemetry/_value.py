"""Value semantics for ``__slots__`` classes, without ``dataclasses``.

The capture's data types (``capture/_snapshot.py``) and the consent decision
(``consent/_types.py``) are built on the host's thread at its first capture, where
importing ``dataclasses`` (and ``re``, ``inspect``...) would cost milliseconds: this
module imports nothing.
"""

from __future__ import annotations


class Frozen:
    """Attributes set once, in ``__init__``; compared and shown by their values.

    What ``dataclass(frozen=True, eq=True)`` gives: setting or deleting an attribute
    raises ``AttributeError``, ``==`` compares the attributes of two objects of the same
    class, ``repr`` shows them. Not hashable (an attribute may be a mapping); a
    subclass whose attributes all are defines ``__hash__`` (``consent._precedence.Value``).
    Subclasses list their attributes in ``__slots__`` and set them in ``__init__`` with
    :meth:`_set`, or with ``object.__setattr__`` where a call per attribute is cheaper.
    """

    __slots__ = ()

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    # ``__eq__`` without ``__hash__`` in a class body: Python sets ``__hash__`` to None.
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return values_of(self) == values_of(other)

    def __repr__(self) -> str:
        names: tuple[str, ...] = self.__slots__
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({fields})"


def values_of(value: object) -> tuple[object, ...]:
    """The attributes of a slots class, in the order of its ``__slots__``."""
    names: tuple[str, ...] = type(value).__slots__  # type: ignore[attr-defined]
    return tuple(getattr(value, name) for name in names)
