"""Names a package exports but imports only when first used (PEP 562)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Callable


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports each name from its module on first use.

    Args:
        package: the exporting package's ``__name__`` (relative modules resolve in it).
        names: each exported name and the module that defines it (``"._file"``).
    """

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import sys
        from importlib import import_module

        value = getattr(import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # imported once
        return value

    return __getattr__
