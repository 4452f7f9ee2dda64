"""PX1: a card number never leaves in a usage event, whatever its type.

A card number is a card number whether the host passes it as text, an ``int``, a
``float``, negative, or inside a list. Those types are within the limits of a usage
event: the event is sent and every such value is scrubbed. Other types (a dict, bytes,
an object, an int beyond 64 bits, a key JSON cannot take) are refused at the call: the
event is not sent at all, and the warning names the property, never the value. A real
host process sends the events with consent, to a real OTLP receiver; the number must
not arrive in any form, while numbers and booleans that hold nothing are kept as they are.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import otlp_env, run_python
from tests.payloads import attributes

pytestmark = pytest.mark.integration

CARD = "4111111111111111"  # a test card number: passes the Luhn check

HOST = f"""
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # the host logs everything
from acme.telemetry import telemetry


class Order:
    def __str__(self):
        return "order paid with {CARD}"


telemetry.send_event(
    "checkout",
    {{
        "as_int": {CARD},
        "as_float": {CARD}.0,
        "in_list": [{CARD}, 2],
        "negative": -{CARD},
        "as_str": "paid with {CARD}",
        "in_str_list": ["{CARD}", "visa"],
        "pages": 3,
        "ratio": 0.5,
        "ok": True,
    }},
)
# Refused at the call, each alone: the event is not sent.
for key, value in {{
    "in_dict": {{"number": {CARD}, "items": 2}},
    "as_bytes": b"{CARD}",
    "as_object": Order(),
    "huge": 2**70,  # beyond OTLP's 64-bit integers
    "tuple_key": {{(1, 2): "x"}},  # a key JSON cannot take
    "mixed": ["{CARD}", {CARD}],
}}.items():
    telemetry.send_event("checkout_refused", {{key: value, "pages": 1}})
# A payload cannot write our keys: the audit, the kind, an email.
for key, value in {{
    "otel_telemetry.scrubbed": ["url:1"],
    "otel_telemetry.kind": "exception",
    "user.email": "alice@example.com",
}}.items():
    telemetry.send_event("checkout_reserved", {{key: value}})
assert telemetry.flush(15)
"""

CARRIERS = ("as_int", "as_float", "in_list", "negative", "as_str", "in_str_list")
REFUSED = ("in_dict", "as_bytes", "as_object", "huge", "tuple_key", "mixed")


def test_a_card_number_of_any_type_never_arrives(host_env, otlp_http) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all")

    result = run_python(HOST, env, check=True)

    [span] = otlp_http.wait_for_spans(1)
    assert span["name"] == "checkout"
    sent = attributes(span["attributes"])
    leaked = [
        key
        for key in CARRIERS
        if CARD in json.dumps(sent.get(key)) or "4.111111111111111e" in json.dumps(sent.get(key))
    ]
    assert leaked == [], f"the card number arrived in {leaked}: {sent}"
    assert all("[card]" in json.dumps(sent[key]) for key in CARRIERS), sent
    for request in otlp_http.requests:
        assert CARD.encode() not in request.body
        assert b"checkout_refused" not in request.body
        assert b"checkout_reserved" not in request.body
    # Numbers and booleans that hold nothing are kept, as numbers and booleans.
    assert (sent["pages"], sent["ratio"], sent["ok"]) == ("3", 0.5, True)
    assert sent["otel_telemetry.kind"] == "event"
    assert "user.email" not in sent
    # Each refused event: one warning, naming the property, never the value.
    warnings = [line for line in result.stderr.splitlines() if "was not sent" in line]
    held = [w.split(" holds ")[0].split(" property ")[1] for w in warnings if " holds " in w]
    assert held == [f"'{key}'" for key in REFUSED]
    assert sum("is reserved for otel_telemetry" in w for w in warnings) == 3
    assert CARD not in result.stderr
    # Nothing of ours reached the host's logging (an encoder error would log at ERROR).
    assert [line for line in result.stderr.splitlines() if "opentelemetry" in line] == []
