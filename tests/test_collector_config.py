"""collector-config/: every config parses, names real components, and scrubs with RE2.

The component list is otelcol-contrib's (release line 0.136), kept in tests/data and
checked against the copy in ../shared when one is beside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import re2
import yaml

from tests.pii_samples import BENIGN_TRACEBACK, PII_SAMPLES, SENSITIVE_PART, embedded

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "collector-config"
COLLECTOR_CONFIGS = ("gateway.yaml", "agent.yaml")
KINDS = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "extensions": "extension",
    "connectors": "connector",
}
COMPONENTS = ROOT / "tests" / "data" / "otelcol-contrib-components.txt"
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
OTTL_CALL = re.compile(r"^(?P<function>[a-z_]+)\((?P<args>.*)\)(?: where (?P<where>.*))?$")


def _components() -> set[tuple[str, str]]:
    lines = COMPONENTS.read_text().splitlines()
    return {tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")}


def _load(name: str) -> dict:
    return yaml.safe_load((CONFIG / name).read_text())


def test_component_list_matches_the_shared_one():
    shared = ROOT.parent / "shared" / "otelcol-contrib-components.txt"
    if not shared.exists():
        pytest.skip("no ../shared beside this clone; the copy in tests/data is used")
    assert shared.read_text() == COMPONENTS.read_text()


@pytest.mark.parametrize("path", sorted(p.relative_to(CONFIG) for p in CONFIG.rglob("*.yaml")))
def test_every_yaml_file_parses(path):
    documents = list(yaml.safe_load_all((CONFIG / path).read_text()))
    assert documents
    assert all(isinstance(d, dict) for d in documents)


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_components_exist_are_defined_and_pipelines_use_only_those(name):
    config = _load(name)
    known = _components()
    defined = {}
    for section, kind in KINDS.items():
        for component_id in config.get(section) or {}:
            component_type = component_id.split("/", 1)[0]
            assert (kind, component_type) in known, (
                f"{kind} {component_type} is not in otelcol-contrib"
            )
            defined.setdefault(section, set()).add(component_id)
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in defined["extensions"], extension
    assert service["pipelines"]
    for pipeline_id, pipeline in service["pipelines"].items():
        assert pipeline_id.split("/", 1)[0] in {"traces", "metrics", "logs"}
        for section in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(section, []):
                assert component_id in defined.get(section, set()), (pipeline_id, component_id)
    for section, ids in defined.items():
        used = {c for p in service["pipelines"].values() for c in p.get(section, [])}
        used |= set(service.get("extensions", []))
        assert ids <= used, f"defined but unused {section}: {ids - used}"


def test_every_environment_variable_is_documented():
    documented = {
        line.split("=", 1)[0]
        for line in (CONFIG / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    referenced = {
        match.group(1)
        for path in CONFIG.rglob("*.yaml")
        for match in ENV_REFERENCE.finditer(path.read_text())
    }
    assert referenced
    assert referenced <= documented, referenced - documented


def _ottl_strings(args: str) -> list[str]:
    """The string literals of an OTTL argument list, unescaped."""
    return [re.sub(r"\\(.)", r"\1", raw) for raw in re.findall(r'"((?:[^"\\]|\\.)*)"', args)]


def _statements() -> list[tuple[str, str, list[str], str | None]]:
    processor = _load("gateway.yaml")["processors"]["transform/scrub"]
    parsed = []
    for statement in processor["trace_statements"]:
        match = OTTL_CALL.match(statement)
        assert match, statement
        target = match.group("args").split(",", 1)[0].strip()
        parsed.append(
            (
                match.group("function"),
                target,
                _ottl_strings(match.group("args")),
                match.group("where"),
            )
        )
    return parsed


def _regexes() -> list[str]:
    from_statements = [
        strings[1] if function == "replace_all_patterns" else strings[0]
        for function, _, strings, _ in _statements()
        if function in {"replace_all_patterns", "replace_pattern", "delete_matching_keys"}
    ]
    blocked = _load("gateway.yaml")["processors"]["redaction"]["blocked_values"]
    return from_statements + blocked


@pytest.mark.parametrize("pattern", sorted(set(_regexes())))
def test_every_regex_compiles_under_re2(pattern):
    re2.compile(pattern)  # raises on lookarounds, backreferences and other non-RE2 syntax


def test_redaction_and_transform_use_the_same_value_patterns():
    replacing = {
        strings[1]
        for function, _, strings, _ in _statements()
        if function == "replace_all_patterns"
    }
    blocked = set(_load("gateway.yaml")["processors"]["redaction"]["blocked_values"])
    assert blocked == replacing


def _process(span: dict) -> dict:
    """Apply the gateway's transform statements, then its redaction, as the collector does."""
    cache = {}
    for function, target, strings, where in _statements():
        context, _, field = target.partition(".")
        if function == "set":
            if target.startswith("span.cache"):
                cache["user.email"] = span["attributes"].get("user.email")
            elif where and cache.get("user.email") is not None:
                span["attributes"]["user.email"] = cache["user.email"]
            continue
        holders = {
            "span": [span],
            "spanevent": span["events"],
            "resource": [span["resource"]],
        }[context]
        for holder in holders:
            if function == "delete_matching_keys":
                pattern = re2.compile(strings[0])
                for key in [k for k in holder["attributes"] if pattern.fullmatch(k)]:
                    del holder["attributes"][key]
            elif function == "replace_all_patterns":
                pattern = re2.compile(strings[1])
                holder["attributes"] = {
                    k: pattern.sub(strings[2], v) if isinstance(v, str) else v
                    for k, v in holder["attributes"].items()
                }
            elif function == "replace_pattern":
                key = field.removeprefix("status.")
                span[key] = re2.compile(strings[0]).sub(strings[1], span[key])
    redaction = _load("gateway.yaml")["processors"]["redaction"]
    for pattern in map(re2.compile, redaction["blocked_values"]):
        span["attributes"] = {
            k: v
            if k in redaction["ignored_keys"] or not isinstance(v, str)
            else pattern.sub("****", v)
            for k, v in span["attributes"].items()
        }
    return span


def _span(text: str) -> dict:
    return {
        "name": "exception",
        "message": text,
        "attributes": {
            "otel_telemetry.mechanism": "excepthook",
            "detail": text,
            "user.email": "me@example.com",
        },
        "events": [{"attributes": {"exception.message": text, "exception.stacktrace": text}}],
        "resource": {"attributes": {"service.name": "acme"}},
    }


@pytest.mark.parametrize(("rule", "sample"), PII_SAMPLES)
def test_the_gateway_removes_every_pii_sample(rule, sample):
    sensitive = SENSITIVE_PART.get(sample, sample)
    for text in embedded(sample):
        span = _process(_span(text))
        strings = [
            span["message"],
            *span["attributes"].values(),
            *span["events"][0]["attributes"].values(),
        ]
        for value in strings:
            assert sensitive not in str(value), (rule, text, value)
    assert span["attributes"]["user.email"] == "me@example.com"  # the typed address stays


def test_the_gateway_leaves_a_benign_traceback_intact():
    span = _process(_span(BENIGN_TRACEBACK))
    assert span["events"][0]["attributes"]["exception.stacktrace"] == BENIGN_TRACEBACK
    assert span["message"] == BENIGN_TRACEBACK


def test_key_named_secrets_are_removed_whole():
    span = _span("fine")
    span["attributes"].update({"db.password": "x", "API_KEY": "y", "author": "kept"})
    processed = _process(span)["attributes"]
    assert "db.password" not in processed
    assert "API_KEY" not in processed
    assert processed["author"] == "kept"


def test_the_example_server_points_at_the_gateway_receiver():
    compose = _load("docker-compose.yaml")
    gateway = _load("gateway.yaml")["receivers"]["otlp"]["protocols"]
    environment = compose["services"]["acme-api"]["environment"]
    assert environment["ACME_TELEMETRY_EXPORTER"] == "otlp"
    endpoint = environment["ACME_OTLP_ENDPOINT"]
    protocol = environment["ACME_OTLP_PROTOCOL"]
    host, port = endpoint.removeprefix("http://").split(":")
    assert host in compose["services"]
    assert compose["services"][host]["image"].startswith("otel/opentelemetry-collector-contrib:")
    expected = gateway["http" if protocol == "http/protobuf" else "grpc"]["endpoint"].rsplit(
        ":", 1
    )[1]
    assert port == expected
    assert f"{port}:{port}" in compose["services"][host]["ports"]


def test_kubernetes_manifests_match_the_gateway_config():
    kustomization = _load("kustomization.yaml")
    assert kustomization["configMapGenerator"][0]["files"] == ["gateway.yaml"]
    gateway = _load("gateway.yaml")
    deployment = yaml.safe_load((CONFIG / "kubernetes" / "deployment.yaml").read_text())
    service = yaml.safe_load((CONFIG / "kubernetes" / "service.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == int(
        gateway["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    )
    receivers = gateway["receivers"]["otlp"]["protocols"]
    assert ports["otlp-grpc"] == int(receivers["grpc"]["endpoint"].rsplit(":", 1)[1])
    assert ports["otlp-http"] == int(receivers["http"]["endpoint"].rsplit(":", 1)[1])
    assert {p["port"] for p in service["spec"]["ports"]} == {ports["otlp-grpc"], ports["otlp-http"]}
    assert container["resources"]["limits"]["memory"]
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    assert deployment["spec"]["replicas"] >= 2
    assert container["image"] == _load("docker-compose.yaml")["services"]["otel-gateway"]["image"]
