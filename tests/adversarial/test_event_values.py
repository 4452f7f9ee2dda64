"""PX1: every value of a usage event's payload is scrubbed, whatever its type.

A card number is a card number whether the host passes it as text, an ``int``, a
``float``, inside a list or a dict, or as bytes. A real host process sends the event
with consent, to a real OTLP receiver; the number must not arrive in any form, while
numbers and booleans that hold nothing are kept as they are.
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
        "in_dict": {{"number": {CARD}, "items": 2}},
        "as_bytes": b"{CARD}",
        "as_object": Order(),
        "negative": -{CARD},
        # A payload cannot write our keys: the audit, the kind, an email.
        "otel_telemetry.scrubbed": ["https://leak:pw@audit.example.com/x?token=AUDITSECRET:1"],
        "otel_telemetry.kind": "exception",
        "user.email": "alice@example.com",
        "huge": 2**70,  # beyond OTLP's 64-bit integers
        "tuple_key": {{(1, 2): "x"}},  # a key JSON cannot take
        "pages": 3,
        "ratio": 0.5,
        "ok": True,
    }},
)
assert telemetry.flush(15)
"""

CARRIERS = ("as_int", "as_float", "in_list", "in_dict", "as_bytes", "as_object", "negative")


def test_a_card_number_of_any_type_never_arrives(host_env, otlp_http) -> None:
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all")

    result = run_python(HOST, env, check=True)

    [span] = otlp_http.wait_for_spans(1)
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
    # Numbers and booleans that hold nothing are kept, as numbers and booleans.
    assert (sent["pages"], sent["ratio"], sent["ok"]) == ("3", 0.5, True)
    assert sent["otel_telemetry.kind"] == "event"
    assert "user.email" not in sent
    assert "AUDITSECRET" not in json.dumps(sent)
    assert sent["huge"] == str(2**70)
    assert json.loads(sent["tuple_key"]) == {"(1, 2)": "x"}
    # Nothing of ours reached the host's logging (an encoder error would log at ERROR).
    assert [line for line in result.stderr.splitlines() if "opentelemetry" in line] == []
