"""Settings: what one ``Telemetry`` was given, resolved live against the environment.

Every value that a variable can override is a method or property read at the moment it
is needed, so a changed environment takes effect at once and nothing is cached that a
test or a user would have to reset. Only ``os`` is imported up front: the app thread
resolves settings on every crash.
"""

from __future__ import annotations

import os

from .consent._environment import AppEnvironment, split_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path
    from typing import Optional, Union

    from ._layout import Layout
    from .consent._types import Mode
    from .exporters import ExporterContext
    from .scrubbing import ScrubbingOptions

#: Without a DSN in force, crash reports stay in the local file; with one, go to Sentry.
DEFAULT_EXPORTERS = ("file",)
DEFAULT_EXPORTERS_WITH_DSN = ("sentry",)


class Settings:
    """The arguments of ``Telemetry(...)`` and the variables that override them.

    Args:
        app: names ``~/.<app>`` and the ``<APP>_*`` variables.
        packages: the host's module prefixes.
        version: the host's version.
        sentry_dsn: the DSN baked into the host.
        exporters: exporter names used when ``<APP>_TELEMETRY_EXPORTER`` is unset.
        config_dir: replaces ``~/.<app>`` when ``<APP>_CONFIG_DIR`` is unset.
        scrubbing: the scrubbing options.
        flush_timeout: seconds exit may wait, unless ``<APP>_TELEMETRY_FLUSH_TIMEOUT``.
        prompt_timeout: seconds the prompt waits, unless ``<APP>_TELEMETRY_PROMPT_TIMEOUT``.
        display_name: the host's name in messages; ``app`` capitalised by default.
    """

    def __init__(
        self,
        app: str,
        packages: tuple[str, ...],
        version: str,
        *,
        sentry_dsn: Optional[str] = None,
        exporters: Union[str, Iterable[str], None] = None,
        config_dir: Union[str, os.PathLike[str], None] = None,
        scrubbing: Optional[ScrubbingOptions] = None,
        flush_timeout: float = 1.0,
        prompt_timeout: float = 30.0,
        display_name: Optional[str] = None,
    ) -> None:
        self.app = app
        self.packages = packages
        self.version = version
        self.scrubbing = scrubbing
        self.display_name = display_name or app[:1].upper() + app[1:]
        self.env = AppEnvironment(app)  # reads os.environ live
        self.mode_override: Optional[str] = None
        self._sentry_dsn = sentry_dsn
        if isinstance(exporters, str):
            self._exporters: Optional[tuple[str, ...]] = split_names(exporters)
        else:
            self._exporters = None if exporters is None else tuple(exporters)
        self._config_dir = None if config_dir is None else os.fspath(config_dir)
        self._flush_timeout = flush_timeout
        self._prompt_timeout = prompt_timeout

    def config_dir_path(self) -> str:
        """``<APP>_CONFIG_DIR``, else the ``config_dir`` argument, else ``~/.<app>``.

        A plain string: ``install()`` resolves it and must not import ``pathlib``.
        """
        from_env = self.env.config_dir
        if from_env is not None:
            return from_env
        if self._config_dir is not None:
            return os.path.expanduser(self._config_dir)
        return os.path.join(os.path.expanduser("~"), f".{self.app}")

    @property
    def config_dir(self) -> Path:
        """The config dir in force, as a path."""
        from pathlib import Path

        return Path(self.config_dir_path())

    def layout(self) -> Layout:
        """Where each file of the config dir in force lives."""
        from ._layout import Layout

        return Layout(self.config_dir)

    @property
    def flush_timeout(self) -> float:
        """Seconds that exit may wait for reports."""
        from_env = self.env.flush_timeout
        return self._flush_timeout if from_env is None else from_env

    @property
    def prompt_timeout(self) -> float:
        """Seconds the terminal prompt waits for each answer."""
        from_env = self.env.seconds("TELEMETRY_PROMPT_TIMEOUT")
        return self._prompt_timeout if from_env is None else from_env

    def mode(self) -> Mode:
        """``install(mode=...)``, else ``<APP>_TELEMETRY_MODE``, else the detected mode."""
        from .consent._mode import resolve_mode

        env = self.env
        return resolve_mode(self.mode_override, env.mode, env.name("TELEMETRY_MODE"), env.environ)

    def exporter_names(self) -> tuple[str, ...]:
        """The exporters in force: debug, else the variable, else the argument, else the default."""
        env = self.env
        if env.debug:
            return ("console",)
        configured = env.exporters or self._exporters
        if configured:
            return configured
        return DEFAULT_EXPORTERS_WITH_DSN if self.sentry_dsn()[0] else DEFAULT_EXPORTERS

    def sentry_dsn(self) -> tuple[Optional[str], Optional[str]]:
        """``(dsn, where it came from)``: ``<APP>_SENTRY_DSN``, else the baked-in one."""
        env = self.env
        if env.sentry_dsn is not None:
            return env.sentry_dsn, env.name("SENTRY_DSN")
        if self._sentry_dsn:
            return self._sentry_dsn, "baked in"
        return None, None

    def exporter_context(self) -> ExporterContext:
        """What exporter factories may know about the host."""
        from .exporters import ExporterContext

        dsn, dsn_source = self.sentry_dsn()
        return ExporterContext(
            app=self.app,
            version=self.version,
            config_dir=self.config_dir,
            environ=os.environ,
            sentry_dsn=dsn,
            sentry_dsn_source=dsn_source,
            packages=self.packages,
        )
