"""Typed usage events, and the limits on what a usage event may carry.

A usage event says how the host is used (counts, flags, short names of modes), never
what a user did with it: no free text, no URLs, no file names, no objects. The limits
are checked at ``send_event``, on the host's thread, before anything is queued; an
event that breaks one is refused whole, with one warning naming the event, the
property and the kind of problem (never the value, which may be personal).

The check is cheap (no regular expression, no import at the call; each event class and
each name is checked once, then remembered) and runs none of the host's
code: every value is known by its exact type (``type(v) is str``), so a subclass of
``str`` or ``int`` (an enum, a string with its own ``__str__``), an object with an
``__eq__``, ``__hash__`` or ``__str__`` that raises, is refused without being touched.
What is kept is copied (lists become tuples), so the host may change its own objects
afterwards. Strings are scrubbed later, on the worker, like every string of a report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Optional, Union

from otel_telemetry._attributes import NAMESPACE, USER_EMAIL
from otel_telemetry._log import warn_once

from ._builtins import TYPE_DICT, TYPE_MODULE, TYPE_MRO, TYPE_QUALNAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

MAX_NAME = 64
"""Characters of an event name or a property name."""
MAX_STRING = 64
"""Characters of a str value (one property, or one item of a list)."""
MAX_ITEMS = 64
"""Items of a list or tuple value."""
MAX_PROPERTIES = 32
"""Properties of one event (a span holds our own attributes beside them)."""

Scalar = Union[None, bool, int, float, str]
"""A property value: a flag, a number, a short str, or nothing (None)."""
PropertyValue = Union[Scalar, "Sequence[Scalar]"]
"""A scalar, or a list or tuple of scalars of one type."""
Properties = dict[str, Union[Scalar, "tuple[Scalar, ...]"]]
"""An event's properties as they are queued: checked, copied, lists as tuples."""

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NAME_CHARS = _LETTERS + "0123456789_."
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1  # OTLP integers are 64-bit
_NAMES = f"1 to {MAX_NAME} characters of a-z, 0-9, '_' and '.', starting with a letter"
_ALLOWED = "values must be bool, int, float, str, None, or a list of one of them"
_MAX_WARNINGS = 256  # distinct problems warned about; then one last warning for all others


@dataclass(frozen=True)
class TelemetryEvent:
    """The base of a typed usage event: a frozen dataclass with a class-level ``name``.

    Define one class per event, its fields the event's properties::

        @dataclass(frozen=True)
        class CrawlFinished(TelemetryEvent):
            name: ClassVar[str] = "crawl_finished"
            pages: int
            browser: str
            success: bool

        telemetry.send_event(CrawlFinished(pages=3, browser="chromium", success=True))

    ``name`` and the field names follow the name rule: 1 to 64 characters of ``a-z``,
    ``0-9``, ``_`` and ``.``, starting with a letter. Each field's value is checked when
    the event is sent, as ``send_event(name, payload)`` checks a payload's values. A
    subclass that is not itself decorated with ``@dataclass(frozen=True)``, or that has
    no ``name``, is refused at ``send_event`` with one warning.
    """

    name: ClassVar[str]
    """The event's name, the span's name (``crawl_finished``)."""


class Refused(Exception):
    """An event breaks a limit: the problem, the property (if any), the event's label."""

    def __init__(
        self, problem: str, prop: Optional[str] = None, *, label: Optional[str] = None
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.prop = prop
        self.label = label


def is_name(text: str) -> bool:
    """``text`` (an exact ``str``) is a valid event or property name."""
    # str.strip with the allowed characters leaves nothing of a valid name: no regex.
    return 0 < len(text) <= MAX_NAME and text[0] in _LETTERS and not text.strip(_NAME_CHARS)


def checked_event(app: str, event: object, payload: object) -> Optional[tuple[str, Properties]]:
    """``(name, properties)`` of an event within the limits, else None after one warning.

    Args:
        app: the host's app name, for the warning.
        event: a :class:`TelemetryEvent` instance, or an event name (a ``str``).
        payload: with a name, a ``dict`` of properties, or None; with a typed event, None.

    Returns:
        The event's name and its properties, copied (lists and tuples as tuples), or
        None when the event was refused (warned about once per event, property and kind
        of problem).
    """
    label: Optional[str] = None  # the event's name or class, once it may be shown
    try:
        if type(event) is str:
            if not _check_name(event):
                raise Refused(f"its name is not {_NAMES}")
            label = repr(event)
            return event, _payload(payload)
        kind = type(event)
        if not issubclass(kind, TelemetryEvent):
            raise Refused(f"it is neither a name (a str) nor a TelemetryEvent, but {_kind(kind)}")
        name, fields, label = _event_class(kind)
        if payload is not None:
            raise Refused("a TelemetryEvent takes no payload: its fields are its properties")
        return name, _properties(zip(fields, [_field(event, field) for field in fields]))
    except Refused as refused:
        _warn(app, refused.label or label, refused.prop, refused.problem)
        return None


# -- typed events: each class checked once ----------------------------------------------------

# class -> (name, field names, label for warnings), or (label, why it is refused); bounded
# (classes made at run time beyond it are checked again rather than remembered).
_CLASSES: dict[type, Union[tuple[str, tuple[str, ...], str], tuple[Optional[str], str]]] = {}
_MAX_CLASSES = 256


def _event_class(kind: type) -> tuple[str, tuple[str, ...], str]:
    known = _CLASSES.get(kind)
    if known is None:
        label = _class_name(kind)
        try:
            name, fields = _check_class(kind)
            known = (name, fields, repr(name) if label is None else f"{label} ({name!r})")
        except Refused as refused:
            known = (label, refused.problem)
        if len(_CLASSES) < _MAX_CLASSES:
            _CLASSES[kind] = known
    if len(known) == 2:
        # A new one each time: a raised exception keeps its traceback.
        raise Refused(known[1], label=known[0])
    return known


def _check_class(kind: type) -> tuple[str, tuple[str, ...]]:
    own = TYPE_DICT(kind)
    if "__dataclass_fields__" not in own:
        raise Refused("its class is not decorated with @dataclass(frozen=True)")
    # The class attribute, looked up along the MRO without running a descriptor.
    name = next(
        (vars_["name"] for vars_ in map(TYPE_DICT, TYPE_MRO(kind)) if "name" in vars_), None
    )
    fields = tuple(field.name for field in dataclasses.fields(kind))
    if "name" in fields:
        raise Refused("it declares name as a field; write name: ClassVar[str] = '...'")
    if type(name) is not str:
        raise Refused("its class has no name; write name: ClassVar[str] = '...'")
    if not is_name(name):
        raise Refused(f"its name is not {_NAMES}")
    if len(fields) > MAX_PROPERTIES:
        raise Refused(f"it has more than {MAX_PROPERTIES} fields")
    for field in fields:
        if not is_name(field):
            raise Refused(f"the name of its field {field!r} is not {_NAMES}")
        _check_key(field)
    return name, fields


# -- properties ---------------------------------------------------------------------------------


def _payload(payload: object) -> Properties:
    if payload is None:
        return {}
    if not issubclass(type(payload), dict):
        raise Refused(f"its payload is not a dict but {_kind(type(payload))}")
    if dict.__len__(payload) > MAX_PROPERTIES:  # type: ignore[arg-type]
        raise Refused(f"it has more than {MAX_PROPERTIES} properties")
    # A dict's own items, never an override's; keys are checked with their values.
    return _properties(dict.items(payload), check_keys=True)  # type: ignore[arg-type]


# Names found valid (event and property names), so that each is checked once; bounded.
_NAMES_SEEN: set[str] = set()
_MAX_NAMES_SEEN = 1024


def _check_name(name: str) -> bool:
    """``name`` (an exact str) is a valid event or property name; remembered if so."""
    if name in _NAMES_SEEN:
        return True
    if not is_name(name):
        return False
    if len(_NAMES_SEEN) < _MAX_NAMES_SEEN:
        _NAMES_SEEN.add(name)
    return True


# Property names found valid and not reserved; bounded like _NAMES_SEEN.
_KEYS_SEEN: set[str] = set()


def _check_new_key(key: object) -> None:
    if type(key) is not str:
        raise Refused(f"a property name is not a str but {_kind(type(key))}")
    if not is_name(key):
        raise Refused(f"a property name is not {_NAMES}")  # not shown: it may be data
    _check_key(key)
    if len(_KEYS_SEEN) < _MAX_NAMES_SEEN:
        _KEYS_SEEN.add(key)


def _check_key(key: str) -> None:
    if key.startswith(NAMESPACE) or key == USER_EMAIL:
        raise Refused(f"the property name {key!r} is reserved for otel_telemetry")


def _properties(items: Iterable[tuple[str, object]], *, check_keys: bool = False) -> Properties:
    properties: Properties = {}
    for key, value in items:
        # The exact type first: hashing a key of another type could run its __hash__.
        if check_keys and (type(key) is not str or key not in _KEYS_SEEN):
            _check_new_key(key)
        kind = type(value)
        # The common values without a call: a short ASCII str, a flag, a number.
        if kind is str:
            if len(value) <= MAX_STRING and value.isascii():  # type: ignore[arg-type,attr-defined]
                properties[key] = value  # type: ignore[assignment]
                continue
        elif kind is bool or value is None:
            properties[key] = value  # type: ignore[assignment]
            continue
        elif kind is int:
            if _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
                properties[key] = value  # type: ignore[assignment]
                continue
        elif kind is float:
            if value - value == 0.0:  # type: ignore[operator]  # False for NaN and infinities
                properties[key] = value  # type: ignore[assignment]
                continue
        elif kind is list or kind is tuple:
            properties[key] = _sequence(key, value)  # type: ignore[arg-type]
            continue
        else:
            raise Refused(f"{_kind(kind)}; {_ALLOWED}", key)
        problem = _scalar_problem(value, kind)
        if problem is not None:
            raise Refused(problem, key)
        properties[key] = value  # type: ignore[assignment]  # a non-ASCII str, checked
    return properties


def _scalar_problem(value: object, kind: type) -> Optional[str]:
    """Why a value of an accepted exact type breaks a limit, or None."""
    if kind is str:
        if len(value) > MAX_STRING:  # type: ignore[arg-type]
            return f"a str longer than {MAX_STRING} characters"
        if not value.isascii():  # type: ignore[attr-defined]
            try:
                value.encode("utf-8")  # type: ignore[attr-defined]
            except UnicodeEncodeError:
                return "a str that is not text (a lone surrogate)"
    elif kind is int:
        if not _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
            return "an int beyond 64 bits"
    elif kind is float and value - value != 0.0:  # type: ignore[operator]  # NaN, infinities
        return "a float that is not finite (NaN or infinity)"
    return None


def _sequence(key: str, value: Union[list[object], tuple[object, ...]]) -> tuple[Scalar, ...]:
    # Counted before it is copied (exact list or tuple: len() is the built-in's), so a
    # huge list is refused at the cost of one call, not of a copy.
    if len(value) > MAX_ITEMS:
        raise Refused(f"a list of more than {MAX_ITEMS} items", key)
    items = tuple(value)  # a copy: the host may change its list afterwards
    first: Optional[type] = None
    for item in items:
        kind = type(item)
        if item is None or not (kind is str or kind is int or kind is float or kind is bool):
            what = "None" if item is None else _kind(kind)
            raise Refused(f"a list holding {what}; items must be bool, int, float or str", key)
        if first is None:
            first = kind
        elif kind is not first:
            raise Refused("a list mixing types; items must be all of one type", key)
        problem = _scalar_problem(item, kind)
        if problem is not None:
            raise Refused(f"a list holding {problem}", key)
    return items  # type: ignore[return-value]  # checked above


def _field(event: object, field: str) -> object:
    """A field's value as the instance holds it, without running the host's code.

    From the instance's ``__dict__`` (a dataclass without slots): a property the class
    puts over the field is neither run nor believed. With ``slots=True`` there is no
    ``__dict__``: the slot is read through ``object.__getattribute__`` (no
    ``__getattr__`` or ``__getattribute__`` of the host's runs).
    """
    get = object.__getattribute__
    try:
        values = get(event, "__dict__")
    except AttributeError:
        return get(event, field)
    if type(values) is dict and field in values:
        return values[field]
    return get(event, field)


# -- warnings -----------------------------------------------------------------------------------

_warned: set[tuple[str, Optional[str], Optional[str], str]] = set()


def _warn(app: str, label: Optional[str], prop: Optional[str], problem: str) -> None:
    key = (app, label, prop, problem)
    if key not in _warned:
        if len(_warned) >= _MAX_WARNINGS:
            warn_once(
                f"event:{app}:more",
                f"otel_telemetry: more usage events of {app} were refused;"
                " they are not warned about one by one",
            )
            return
        _warned.add(key)
    where = f"property {prop!r} holds {problem}" if prop is not None else problem
    event = f"a usage event of {app}" if label is None else f"{app}'s usage event {label}"
    warn_once(
        f"event:{app}:{label}:{prop}:{problem}",
        f"otel_telemetry: {event} was not sent: {where}"
        " (usage events carry flags, numbers and short names only).",
    )


def _kind(kind: type) -> str:
    """A value's type for a warning, never the value.

    ``a value of type dict``; ``a value of type acme.Browser (a subclass of str; pass a
    plain str)``.
    """
    try:
        module = TYPE_MODULE(kind)
        name = TYPE_QUALNAME(kind)
    except Exception:
        return "a value of another type"
    what = f"a value of type {name if module == 'builtins' else f'{module}.{name}'}"
    for base in (bool, int, float, str, list, tuple, dict):
        # An enum member, a str with its own methods: only the plain type is read.
        if kind is not base and issubclass(kind, base):
            return f"{what} (a subclass of {base.__name__}; pass a plain {base.__name__})"
    return what


def _class_name(kind: type) -> Optional[str]:
    try:
        return f"{TYPE_MODULE(kind)}.{TYPE_QUALNAME(kind)}"
    except Exception:
        return None
