"""``<app> telemetry enable|disable|status|show`` and ``python -m otel_telemetry --app``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

if TYPE_CHECKING:
    from ._telemetry import Telemetry


def telemetry_group(resolve: Callable[[], Telemetry]) -> click.Group:
    """Build the ``telemetry`` command group for the ``Telemetry`` that ``resolve`` returns."""

    @click.group(name="telemetry")
    def group() -> None:
        """Crash reports: see and change what is sent."""

    _add_commands(group, resolve)
    return group


COMMANDS = ("enable", "disable", "status", "show")


def add_to_argparse(
    resolve: Callable[[], Telemetry], subparsers: Any, name: str = "telemetry"
) -> argparse.ArgumentParser:
    """Mount the same commands under ``name`` in an argparse host.

    The new subparser sets ``func``: after ``parse_args()``, ``args.func(args)`` runs the
    command and returns its exit code, as argparse hosts usually dispatch.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="crash reports: enable, disable, status, show",
        description="See and change what crash reports are sent.",
    )
    parser.add_argument("command", choices=COMMANDS, help="what to do")
    # The command's own options go to it unparsed: its click definition is the one truth.
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the command's options")

    def run(args: argparse.Namespace) -> int:
        group = telemetry_group(resolve)
        try:
            group.main(
                args=[args.command, *args.options], prog_name=parser.prog, standalone_mode=False
            )
        except click.exceptions.Exit as exit_:
            return int(exit_.exit_code)
        except click.ClickException as error:
            error.show()
            return error.exit_code
        except click.Abort:
            return 1
        return 0

    parser.set_defaults(func=run)
    return parser


def _add_commands(group: click.Group, resolve: Callable[[], Telemetry]) -> None:
    @group.command()
    @click.option("--email", default=None, help="An address the maintainers may write to.")
    def enable(email: Optional[str]) -> None:
        """Send crash reports from now on."""
        telemetry = resolve()
        try:
            telemetry.enable(email=email, always=True)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
        click.echo(f"Crash reports for {telemetry.app} are enabled.")

    @group.command()
    def disable() -> None:
        """Never send crash reports, and forget the saved email."""
        telemetry = resolve()
        telemetry.disable()
        click.echo(f"Crash reports for {telemetry.app} are disabled.")

    @group.command()
    def status() -> None:
        """Say whether reports are sent, what decided it, and where they go."""
        click.echo(str(resolve().status()))

    @group.command()
    @click.option(
        "--all", "show_all", is_flag=True, help="Every stored report, not only the newest."
    )
    def show(show_all: bool) -> None:
        """Print the scrubbed reports stored by the file exporter, exactly as written."""
        from .exporters._file import read_reports

        telemetry = resolve()
        directory = telemetry.settings.layout().reports_dir
        reports = read_reports(directory)
        if not reports:
            click.echo(f"No stored reports in {directory}.")
            return
        for report in reports if show_all else reports[-1:]:
            click.echo(json.dumps(report, indent=2, ensure_ascii=False))


@click.group(name="otel_telemetry")
@click.option("--app", required=True, help="The host app name, as in ~/.<app>/config.json.")
@click.pass_context
def main(ctx: click.Context, app: str) -> None:
    """Control crash reporting of any app that embeds otel_telemetry."""
    from ._telemetry import Telemetry

    ctx.obj = Telemetry(app=app)


def _from_context() -> Telemetry:
    from ._telemetry import Telemetry

    telemetry = click.get_current_context().find_object(Telemetry)
    if telemetry is None:  # pragma: no cover - main() always sets it
        raise click.UsageError("--app is required")
    return telemetry


_add_commands(main, _from_context)
