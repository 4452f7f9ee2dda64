"""`make collector`: build the OpenTelemetry Collector of collector-config/builder-config.yaml.

    python3 .ci/build_collector.py          (prints the binary's path on stdout, nothing else)

The builder (``go.opentelemetry.io/collector/cmd/builder``) is installed at the manifest's
own release (``dist.version``), so one line pins the builder and every component. The
builder and the binary live in ``.cache/collector/`` (git ignores it; ``COLLECTOR_CACHE``
moves it); a binary is keyed on the manifest's bytes, the Go release and ``GOFLAGS``, so
an unchanged setup costs nothing and an edited manifest builds again. Builds into one
cache take turns (a lock file), and what a killed build left is removed by the next. Go's module and build caches are Go's own
(``go env GOMODCACHE GOCACHE``), reused by every run and every clone on the machine.

Progress goes to stderr, with the time each step took. The exit status is 2 without
``go`` on PATH, 1 when the build fails (the builder's last lines say why).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "collector-config" / "builder-config.yaml"
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
# The manifest is read with a regex, not a YAML parser: this runs before any venv exists.
VERSION = re.compile(r"^  version: *['\"]?v?([0-9]+\.[0-9]+\.[0-9]+)['\"]?\s*$", re.MULTILINE)
NAME = re.compile(r"^  name: *['\"]?([A-Za-z0-9_.-]+)['\"]?\s*$", re.MULTILINE)
OUTPUT_PATH = re.compile(r"^  output_path: .*$", re.MULTILINE)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cache() -> Path:
    return Path(os.environ.get("COLLECTOR_CACHE") or ROOT / ".cache" / "collector").resolve()


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    started = time.monotonic()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        _say(f"{what} failed (exit {result.returncode}):\n{tail}")
        raise SystemExit(1)
    _say(f"{what}: {time.monotonic() - started:.0f} s")


def main() -> int:
    go = shutil.which("go")
    if go is None:
        _say("go is not on PATH: the collector cannot be built (https://go.dev/dl/).")
        return 2
    manifest = MANIFEST.read_text(encoding="utf-8")
    version_match, name_match = VERSION.search(manifest), NAME.search(manifest)
    if version_match is None or name_match is None or not OUTPUT_PATH.search(manifest):
        _say(f"{MANIFEST.name}: dist.name, dist.version or dist.output_path is missing")
        return 1
    version, name = version_match.group(1), name_match.group(1)
    cache = _cache()
    env = dict(os.environ)
    # A Go older than the collector's needs fetches the toolchain it asks for (Go 1.21+).
    env.setdefault("GOTOOLCHAIN", "auto")
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], env=env, capture_output=True, text=True, check=False
    ).stdout.strip()
    setup = "\0".join((manifest, go_version, env.get("GOFLAGS", "")))
    key = hashlib.sha256(setup.encode()).hexdigest()[:12]
    out = cache / f"{name}-{version}-{key}"
    binary = out / name
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        cache.mkdir(parents=True, exist_ok=True)
        with (cache / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another build into this cache ends first
            if not (binary.is_file() and os.access(binary, os.X_OK)):
                for left in cache.glob(".building-*"):  # what a killed build left
                    shutil.rmtree(left, ignore_errors=True)
                _build(go, env, cache, version, name, manifest, out)
    print(binary)
    return 0


def _build(
    go: str, env: dict[str, str], cache: Path, version: str, name: str, manifest: str, out: Path
) -> None:
    builder = cache / f"builder-v{version}" / "builder"
    if not builder.is_file():
        _run(
            [go, "install", f"{BUILDER_MODULE}@v{version}"],
            {**env, "GOBIN": str(builder.parent)},
            f"builder v{version} installed",
        )
    # The builder writes its sources and the binary under output_path: a fresh folder,
    # moved into place only once the binary is there, so a failed or killed build
    # never leaves something that looks built.
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        built = OUTPUT_PATH.sub(f"  output_path: {work / 'dist'}", manifest)
        (work / "builder-config.yaml").write_text(built, encoding="utf-8")
        _run(
            [str(builder), "--config", str(work / "builder-config.yaml")],
            env,
            f"{name} {version} built",
        )
        if out.exists():
            shutil.rmtree(out)
        (work / "dist").rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
