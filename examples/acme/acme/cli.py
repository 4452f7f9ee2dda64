"""``acme``: the Acme command line, with ``acme telemetry enable|disable|status|show``.

Every command's callback is wrapped by ``@telemetry.capture_errors``, under click's own
decorators: the command's errors pass through it before click turns them into
``Error: …`` and an exit status. An error the command lets escape is a crash (asked
about after its traceback); an error it catches and turns into a failing exit
(``sys.exit(1)``, ``click.ClickException``) is reported as the crash it is, and asked
about after click's ``Error:`` line; a usage error (``click.BadParameter``...) is not.
"""

import sys
from pathlib import Path

import click

from .crawler import crawl_page, parse_robots, run
from .telemetry import telemetry


@click.group()
def cli() -> None:
    """Acme crawls pages."""


@cli.command()
@click.argument("url")
@click.option("--contact", default="crawler@example.com", help="Who runs this crawl.")
@telemetry.capture_errors
def crawl(url: str, contact: str) -> None:
    """Fetch URL and print it."""
    click.echo("acme: crawling 1 page")
    click.echo(run(url, contact))


@cli.command()
@click.argument("url")
@telemetry.capture_errors
def markdown(url: str) -> None:
    """Print URL as Markdown."""
    try:
        result = crawl_page(url)
        # The bug (crawl4ai had it): a failed crawl has no Markdown.
        click.echo(result.markdown.raw)
    except Exception as exc:
        # The most common shape of a Python CLI: print the error, exit 1.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("robots_txt", type=click.Path(exists=True, dir_okay=False))
@telemetry.capture_errors
def robots(robots_txt: str) -> None:
    """Print the rules of a robots.txt file."""
    try:
        rules = parse_robots(Path(robots_txt).read_text())
    except Exception as e:
        raise click.ClickException(str(e))  # noqa: B904 - as real CLIs write it
    for field, values in sorted(rules.items()):
        click.echo(f"{field}: {', '.join(values)}")


cli.add_command(telemetry.cli())
