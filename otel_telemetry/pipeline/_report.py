"""Reports as records: what the outbox keeps, built, scrubbed, bounded and checked.

A record is the JSON form of one scrubbed span (the same fields a ``ReadableSpan``
has; ``_records`` converts between the two). Everything here is plain Python, without
the OpenTelemetry SDK, for three reasons:

* at exit, a capture the worker could not record in time (the SDK still importing, a
  machine under load, a budget of 50 ms) is turned into a record here, on the exiting
  thread, so that a consented report is on disk before the process ends;
* everything read back from disk is scrubbed again before it is sent (a file planted in
  the outbox, or left by an older version, never leaves as it is);
* a record read back is checked before anything uses it, so one poisoned file is
  dropped instead of stopping every good report behind it.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from otel_telemetry import _attributes as attr
from otel_telemetry._version import __version__
from otel_telemetry.capture._snapshot import Captured

TYPE_CHECKING = False
if TYPE_CHECKING:
    from otel_telemetry.scrubbing import Scrubber, ScrubPass

Record = dict[str, Any]

FORMAT = 1
"""The version of the record; a record of another version is not read."""
BATCH_FORMAT = 2
"""The version of an outbox file that holds several records (a batch), each with the
exporters it still waits for: ``{"format": 2, "reports": [{"pending", "span"}, ...]}``."""

MAX_STRING = 32 * 1024
"""The most characters of one string of a record; longer ones are cut (after scrubbing)."""
MAX_CHAIN = MAX_STRING
"""The most characters of the JSON chain, a string like the others: a longer one keeps the
first KiB of each message, then fewer frames of each link (the innermost ones)."""
_CHAIN_MESSAGE = 1024
_CHAIN_FRAMES = (50, 20, 10, 5, 2, 0)

# SpanKind.INTERNAL and the StatusCode values of the OpenTelemetry API.
KIND_INTERNAL = 0
STATUS_UNSET, STATUS_ERROR = 0, 2
_STATUS_CODES = (0, 1, 2)


def resource_attributes(
    app: str, version: str, environment: Optional[str] = None
) -> dict[str, str]:
    """The explicit, minimal resource: no detector runs, so no host, user or argv.

    Every value is a str (a value of another type would make the SDK warn on the
    user's stderr, and its repr could hold a path): a ``version`` that is not one is
    ``unknown``. The Python that runs the host (implementation and version) and the kind
    of system (``linux``) are there, as a crash's triage needs them (the Sentry exporter
    sends them as tags); the machine's name, release and architecture never are.
    ``deployment.environment.name`` is there only when an environment is configured.
    The resource leaves only scrubbed, like every string of a report.
    """
    sdk_version = _sdk_version()
    resource = {
        attr.SERVICE_NAME: app,
        attr.SERVICE_VERSION: version if isinstance(version, str) and version else "unknown",
        attr.SDK_LANGUAGE: "python",
        attr.SDK_NAME: "opentelemetry",
        attr.SDK_VERSION: sdk_version,
        attr.DISTRO_NAME: "otel_telemetry",
        attr.DISTRO_VERSION: __version__,
        attr.PROCESS_RUNTIME_NAME: sys.implementation.name,
        attr.PROCESS_RUNTIME_VERSION: "{}.{}.{}".format(*sys.version_info[:3]),
        attr.OS_TYPE: _os_type(),
    }
    if isinstance(environment, str) and environment:
        resource[attr.DEPLOYMENT_ENVIRONMENT] = environment  # semantic conventions
    return resource


def _sdk_version() -> str:
    """The OpenTelemetry SDK's version, without importing the SDK if it is not imported.

    At exit the spool builds a record on the exiting thread while the worker may still be
    importing the SDK (a cold disk): importing ``opentelemetry.sdk.version`` then would
    wait for that import's lock, past the exit's budget. The installed distribution's
    metadata says the same without the lock.
    """
    module = sys.modules.get("opentelemetry.sdk.version")
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib.metadata import version as distribution_version

        return distribution_version("opentelemetry-sdk")
    except Exception:  # not installed as a distribution (vendored): say so, never fail
        return "unknown"


def _os_type() -> str:
    """The kind of system, in the semantic conventions' words (``sys.platform``, no import)."""
    platform = sys.platform
    for prefix, name in (("win", "windows"), ("linux", "linux"), ("freebsd", "freebsd")):
        if platform.startswith(prefix):
            return name
    return platform  # darwin, openbsd, ... as the conventions spell them


def new_record(
    captured: Captured,
    *,
    packages: Sequence[str],
    mode: str,
    install_id: Optional[str],
    resource: Mapping[str, str],
) -> Record:
    """The record of ``captured``, exactly as the SDK path records it, not yet scrubbed.

    Its ids are new random ones, as the SDK's default id generator makes them; they
    are fixed from here on, for every resend.
    """
    from ._spans import report_parts

    name, attributes, event, description = report_parts(
        captured, packages=packages, mode=mode, install_id=install_id
    )
    events: list[dict[str, Any]] = []
    status: dict[str, Any] = {"code": STATUS_UNSET, "description": None}
    if event is not None:
        events.append(
            {"name": attr.EVENT_EXCEPTION, "timestamp": captured.time_ns, "attributes": event}
        )
        status = {"code": STATUS_ERROR, "description": description}
    return _lists(
        {
            "name": name,
            "trace_id": f"{random.getrandbits(128) or 1:032x}",
            "span_id": f"{random.getrandbits(64) or 1:016x}",
            "kind": KIND_INTERNAL,
            "start": captured.time_ns,
            "end": captured.time_ns,
            "attributes": attributes,
            "events": events,
            "status": status,
            "resource": dict(resource),
            "scope": {"name": "otel_telemetry", "version": __version__},
        }
    )


@dataclass
class Scrubbed:
    """The strings of one report after one scrubbing pass (see :func:`scrub_parts`)."""

    name: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    description: Optional[str]
    resource: Optional[dict[str, Any]]


def scrub_parts(
    scrubber: Scrubber,
    *,
    name: str,
    attributes: Mapping[str, Any],
    events: Sequence[tuple[str, Optional[Mapping[str, Any]]]],
    description: Optional[str],
    resource: Optional[Mapping[str, Any]] = None,
    email: Optional[str] = None,
    install_id: Optional[str] = None,
) -> Scrubbed:
    """Scrub every string of a report, whatever holds it (a live span, a record).

    The one set of rules for every path: the span processor, the write at exit and what
    is read back from disk. Scrubbing twice changes nothing but may find more: the audit
    of both passes is kept (an entry that is not ``rule:count`` is dropped).
    Exception messages (each event's ``exception.message``, ``exception.stacktrace``,
    every ``message`` of the chain, and the status description) then also get the
    ``value`` rule: data quoted or repr'd in them becomes ``[value]``. No other string
    gets it: attribute values, usage-event properties and names are not prose.
    ``user.email`` stays only on a crash report, and only when it is the address the
    user gave (``email``); any other value is removed, not scrubbed.

    Args:
        scrubber: the rules in force.
        name: the span's name.
        attributes: the span's attributes.
        events: each event's name and attributes.
        description: the status description.
        resource: a resource to scrub with the report; None leaves it to the caller.
        email: the address the user gave, if any.
        install_id: set on a usage event that has none (one held for the question).

    Raises:
        Exception: whatever the scrubber raised; the caller drops the report.
    """
    scrub = scrubber.new_pass()
    values = dict(attributes)
    values.pop(attr.USER_EMAIL, None)
    earlier = values.pop(attr.SCRUBBED, ())
    scrubbed = _scrubbed(scrub, name, values, events, description, resource)
    clean = scrubbed.attributes
    audit = _audit(earlier, scrub.counts)  # every string of the report scrubbed by now
    if audit:
        clean[attr.SCRUBBED] = tuple(audit)
    if email and clean.get(attr.KIND) == attr.KIND_EXCEPTION:
        clean[attr.USER_EMAIL] = email
    if install_id and clean.get(attr.KIND) == attr.KIND_EVENT:
        clean.setdefault(attr.INSTALL_ID, install_id)
    return scrubbed


def _scrubbed(
    scrub: ScrubPass,
    name: str,
    values: Mapping[str, Any],
    events: Sequence[tuple[str, Optional[Mapping[str, Any]]]],
    description: Optional[str],
    resource: Optional[Mapping[str, Any]],
) -> Scrubbed:
    """The report's strings scrubbed; one lookup for a report of text and flags met before.

    A crash that repeats (its message a placeholder, or the same each time) is the same
    strings report after report: they are remembered whole, keyed on all of them.
    """

    def each() -> Scrubbed:
        return Scrubbed(
            name=scrub.text(name),
            attributes=scrub.attributes(values),
            events=[(scrub.text(n), _event(scrub, a)) for n, a in events],
            description=scrub.message(scrub.text(description)) if description else description,
            resource=scrub.attributes(resource) if resource is not None else None,
        )

    # The memory's key: every string of the report (and whether it has a resource).
    if type(name) is not str or not (description is None or type(description) is str):
        return each()
    chars = len(name) + len(description or "")
    key: list[Any] = ["report", name, description, resource is None]
    flat_events = [(n, scrub.flat(a or {})) for n, a in events]
    for flat in (scrub.flat(values), scrub.flat(resource or {}), *(f for _, f in flat_events)):
        if flat is None:
            return each()
        key.append(flat[0])
        chars += flat[1]
    for event_name, _ in flat_events:
        if type(event_name) is not str:
            return each()
        key.append(event_name)
        chars += len(event_name)
    done = scrub.remember(tuple(key), chars, lambda: _frozen(each()))
    clean_name, clean_values, clean_events, clean_description, clean_resource = done
    return Scrubbed(  # containers of its own: the caller changes them
        name=clean_name,
        attributes=dict(clean_values),
        events=[(n, dict(a)) for n, a in clean_events],
        description=clean_description,
        resource=None if clean_resource is None else dict(clean_resource),
    )


def _frozen(scrubbed: Scrubbed) -> tuple[Any, ...]:
    return (
        scrubbed.name,
        tuple(scrubbed.attributes.items()),
        tuple((n, tuple(a.items())) for n, a in scrubbed.events),
        scrubbed.description,
        None if scrubbed.resource is None else tuple(scrubbed.resource.items()),
    )


def _event(scrub: ScrubPass, attributes: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """An event's attributes scrubbed, its messages also by the ``value`` rule.

    The chain is scrubbed on its own (:meth:`ScrubPass.chain`, one parse for both), in
    its place among the other attributes.
    """
    if not attributes:
        return {}
    return scrub.mapping("event", attributes, lambda: _scrub_event(scrub, dict(attributes)))


def _scrub_event(scrub: ScrubPass, values: dict[str, Any]) -> dict[str, Any]:
    chain = values.get(attr.EXCEPTION_CHAIN)
    if isinstance(chain, str):
        values[attr.EXCEPTION_CHAIN] = ""  # a placeholder, keeping the key's place
    clean = scrub.attributes(values)
    if isinstance(chain, str):
        clean[attr.EXCEPTION_CHAIN] = scrub.chain(chain)
    message = clean.get(attr.EXCEPTION_MESSAGE)
    if isinstance(message, str):
        clean[attr.EXCEPTION_MESSAGE] = scrub.message(message)
    stack = clean.get(attr.EXCEPTION_STACKTRACE)
    if isinstance(stack, str):
        clean[attr.EXCEPTION_STACKTRACE] = scrub.stacktrace(stack)
    return clean


def scrub_record(
    record: Record,
    scrubber: Scrubber,
    *,
    email: Optional[str] = None,
    resource: Optional[Mapping[str, Any]] = None,
) -> Record:
    """``record`` scrubbed by :func:`scrub_parts`; its scope is ours.

    Args:
        record: the record, as built or as read back from disk.
        scrubber: the rules in force.
        email: the address the user gave, if any.
        resource: our resource, already scrubbed, replacing the record's (one read back
            from disk may hold anything); None scrubs the record's own.
    """
    parts = scrub_parts(
        scrubber,
        name=record["name"],
        attributes=record["attributes"],
        events=[(e["name"], e["attributes"]) for e in record["events"]],
        description=record["status"].get("description"),
        resource=record["resource"] if resource is None else None,
        email=email,
    )
    return _lists(
        {
            **record,
            "name": parts.name,
            "attributes": parts.attributes,
            "events": [
                {**event, "name": name, "attributes": values}
                for event, (name, values) in zip(record["events"], parts.events)
            ],
            "status": {**record["status"], "description": parts.description},
            "resource": dict(resource) if resource is not None else parts.resource,
            "scope": {"name": "otel_telemetry", "version": __version__},
        }
    )


def bound_record(record: Record) -> Record:
    """``record`` with every string cut to :data:`MAX_STRING` and the chain kept valid JSON.

    One huge report (a 5 MiB message) must not push every other report out of the
    bounded outbox; it is cut after scrubbing, so a cut never reveals a secret. A record
    within the bounds (nearly every one) is returned as it is, not copied.
    """
    if _within_bounds(record):
        return record

    def values(attributes: Mapping[str, Any]) -> dict[str, Any]:
        bounded: dict[str, Any] = {}
        for key, value in attributes.items():
            if key == attr.EXCEPTION_CHAIN and isinstance(value, str):
                bounded[key] = _bound_chain(value)
            elif isinstance(value, str):
                bounded[key] = _cut(value, MAX_STRING)
            elif isinstance(value, list):
                bounded[key] = [_cut(v, MAX_STRING) if isinstance(v, str) else v for v in value]
            else:
                bounded[key] = value
        return bounded

    status = dict(record["status"])
    if isinstance(status.get("description"), str):
        status["description"] = _cut(status["description"], MAX_STRING)
    return {
        **record,
        "name": _cut(record["name"], 256),
        "attributes": values(record["attributes"]),
        "events": [{**e, "attributes": values(e["attributes"])} for e in record["events"]],
        "status": status,
    }


def check_record(record: Any) -> Record:
    """``record`` when it has the shape :func:`new_record` gives, else ``ValueError``.

    Attribute values must be OTel-valid (a string, bool, int, float, or a list of one of
    them), so that nothing downstream meets a type it does not expect.
    """
    if not isinstance(record, dict):
        raise ValueError("a record is an object")
    _require(isinstance(record.get("name"), str), "name")
    for key, length in (("trace_id", 32), ("span_id", 16)):
        _require(_is_hex(record.get(key), length), key)
    _require(record.get("kind") in range(5), "kind")
    for key in ("start", "end"):
        _require(_is_int(record.get(key)), key)
    _check_attributes(record.get("attributes"))
    _check_attributes(record.get("resource"))
    events = record.get("events")
    if not isinstance(events, list):
        raise ValueError("not a record: bad events")
    for event in events:
        _require(isinstance(event, dict), "event")
        _require(isinstance(event.get("name"), str), "event name")
        _require(_is_int(event.get("timestamp")), "event timestamp")
        _check_attributes(event.get("attributes"))
    status = record.get("status")
    if not isinstance(status, dict) or status.get("code") not in _STATUS_CODES:
        raise ValueError("not a record: bad status")
    description = status.get("description")
    _require(description is None or isinstance(description, str), "status description")
    scope = record.get("scope")
    _require(
        scope is None
        or (
            isinstance(scope, dict)
            and isinstance(scope.get("name"), str)
            and isinstance(scope.get("version"), (str, type(None)))
        ),
        "scope",
    )
    return record


def _check_attributes(attributes: Any) -> None:
    _require(isinstance(attributes, dict), "attributes")
    for key, value in attributes.items():
        _require(isinstance(key, str), "attribute key")
        items = value if isinstance(value, list) else [value]
        kinds = {type(item) for item in items}
        _require(len(kinds) <= 1 and kinds <= {str, bool, int, float}, f"attribute {key}")
        # OTLP integers are 64-bit: a larger one could not be sent.
        _require(all(-(2**63) <= i < 2**63 for i in items if type(i) is int), f"attribute {key}")


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"not a record: bad {what}")


def _is_int(value: Any) -> bool:
    # Times are unsigned 64-bit in OTLP.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def _is_hex(value: Any, length: int) -> bool:
    if not isinstance(value, str) or len(value) != length:
        return False
    try:
        return int(value, 16) != 0
    except ValueError:
        return False


def _audit(earlier: Any, counts: Mapping[str, int]) -> list[str]:
    total: dict[str, int] = {}
    for item in earlier if isinstance(earlier, (list, tuple)) else ():
        if isinstance(item, str) and _AUDIT_ENTRY.fullmatch(item):
            rule, _, count = item.rpartition(":")
            total[rule] = total.get(rule, 0) + int(count)
    for rule, n in counts.items():
        total[rule] = total.get(rule, 0) + n
    return [f"{rule}:{n}" for rule, n in sorted(total.items())]


_AUDIT_ENTRY = re.compile(r"[a-z][a-z0-9_]{0,63}:[0-9]{1,9}")


def _within_bounds(record: Record) -> bool:
    """Nothing of ``record`` that :func:`bound_record` would cut: checked, not copied."""
    if len(record["name"]) > 256:
        return False
    description = record["status"].get("description")
    if isinstance(description, str) and len(description) > MAX_STRING:
        return False
    if not _attributes_within_bounds(record["attributes"]):
        return False
    return all(_attributes_within_bounds(event["attributes"]) for event in record["events"])


def _attributes_within_bounds(attributes: Mapping[str, Any]) -> bool:
    # Loops, not generators: asked for every report.
    for key, value in attributes.items():
        if isinstance(value, str):
            if len(value) > (MAX_CHAIN if key == attr.EXCEPTION_CHAIN else MAX_STRING):
                return False
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str) and len(item) > MAX_STRING:
                    return False
    return True


def _cut(text: str, limit: int) -> str:
    # The marker fits within the limit: a record once bounded is within the bounds, and
    # bounding it again (read back from the outbox) changes nothing.
    if len(text) <= limit:
        return text
    keep = max(0, limit - _MARKER_ROOM)
    return f"{text[:keep]}... [{len(text) - keep} characters cut]"


_MARKER_ROOM = 48  # "... [<up to 20 digits> characters cut]" is at most 41 characters


def _bound_chain(text: str) -> str:
    if len(text) <= MAX_CHAIN:
        return text
    try:
        chain = json.loads(text)
        for entry in chain:
            entry["message"] = _cut(str(entry.get("message", "")), _CHAIN_MESSAGE)
        text = json.dumps(chain, separators=(",", ":"), ensure_ascii=False)
        for keep in _CHAIN_FRAMES:
            if len(text) <= MAX_CHAIN:
                break
            # Ten links of a hundred frames do not fit: keep the innermost frames of each
            # link (where it was raised), counting the others as omitted.
            for entry in chain:
                frames = entry.get("frames")
                if isinstance(frames, list) and len(frames) > keep:
                    omitted = len(frames) - keep
                    entry["frames"] = frames[omitted:]
                    entry["omitted_frames"] = int(entry.get("omitted_frames") or 0) + omitted
            text = json.dumps(chain, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, AttributeError, RecursionError):
        return "[]"  # not the chain we wrote: nothing of it is worth a cut JSON text
    return text if len(text) <= MAX_CHAIN else "[]"


def _lists(record: Record) -> Record:
    """Tuples as lists, as JSON gives them back: a record compares equal to its reread."""

    def values(attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}

    record["attributes"] = values(record["attributes"])
    record["resource"] = values(record["resource"])
    for event in record["events"]:
        event["attributes"] = values(event["attributes"])
    return record
