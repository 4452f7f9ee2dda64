"""collector-config/builder-config.yaml: one pinned release for the built collector, the
builder, and the contrib image of Compose and Kubernetes (static; the binary itself is
checked in tests/collector/test_gateway.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.collector.otelcol import script

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "collector-config"
MANIFEST = yaml.safe_load((CONFIG / "builder-config.yaml").read_text())
RELEASE = MANIFEST["dist"]["version"]
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors", "providers")
IMAGE = re.compile(r"image:\s*(otel/opentelemetry-collector-contrib:\S+)")


def _build_script():
    return script(ROOT / ".ci" / "build_collector.py")


def test_every_module_is_at_the_release_of_the_distribution():
    modules = [entry["gomod"] for kind in KINDS for entry in MANIFEST.get(kind) or ()]
    assert modules
    for module in modules:
        _, version = module.split()
        assert version == f"v{RELEASE}", module


def test_the_build_script_reads_the_same_release_and_name():
    script = _build_script()
    text = (CONFIG / "builder-config.yaml").read_text()
    assert script.VERSION.search(text).group(1) == RELEASE
    assert script.NAME.search(text).group(1) == MANIFEST["dist"]["name"]
    assert script.OUTPUT_PATH.search(text)


def test_compose_and_kubernetes_run_the_contrib_image_of_the_same_release():
    images = [
        image
        for path in (
            CONFIG / "docker-compose.yaml",
            *sorted((CONFIG / "kubernetes").glob("*.yaml")),
        )
        for image in IMAGE.findall(path.read_text())
    ]
    assert images == [f"otel/opentelemetry-collector-contrib:{RELEASE}"] * 2


def test_readme_names_the_release_it_runs():
    readme = (CONFIG / "README.md").read_text()
    assert f"otel/opentelemetry-collector-contrib:{RELEASE}" in readme
    releases = set(re.findall(r"\b0\.1[0-9]{2}(?:\.[0-9]+)?\b", readme))
    assert {r if r.count(".") == 2 else f"{r}.0" for r in releases} == {RELEASE}
