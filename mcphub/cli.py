"""The `mcphub` command line: a click group whose subcommands are imported only when they run.

Each subcommand lives in `mcphub.commands.<name>` and is listed in `mcphub.commands.COMMANDS` with its
one-line help (click's lazy-group pattern), so `mcphub --help` imports click and nothing of the runtime,
the compiler or the MCP SDK. With `--json`, every error is printed as a JSON object on stdout (see
`_fail`) with the same exit status as the text error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from mcphub import __version__
from mcphub.commands import COMMANDS, load

__all__ = ["LazyGroup", "main"]


class LazyGroup(click.Group):
    """A group that knows its subcommands by name and imports each one on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = load(cmd_name)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The table's help lines, not the commands' own: listing must not import them.
        rows = [(name, COMMANDS[name].help) for name in COMMANDS]
        rows += [(name, self.commands[name].get_short_help_str()) for name in self.commands if name not in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(  # type: ignore[override]  # click's overloads; this one never returns
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        extra.pop("standalone_mode", None)
        try:
            # Not standalone: click would print errors itself; `_fail` prints them as text or as JSON.
            code = super().main(argv, prog_name, standalone_mode=False, **extra)
        except click.ClickException as exc:
            _fail(exc, as_json=_wants_json(argv))
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        # Not standalone, click returns `ctx.exit(code)`'s code (and a command's return value, None for ours).
        sys.exit(code if isinstance(code, int) else 0)


def _wants_json(argv: list[str]) -> bool:
    """`--json` among the options (not after `--`, where it would be an argument)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def _fail(exc: click.ClickException, *, as_json: bool) -> NoReturn:
    """Report a failed command: `Error: …` on stderr, or with --json an error object on stdout."""
    if not as_json:
        exc.show()
        sys.exit(exc.exit_code)
    error: dict[str, Any] = {"message": exc.format_message(), "exit_code": exc.exit_code}
    if isinstance(exc, click.UsageError):
        error["kind"] = "usage"
        if exc.ctx is not None:
            error["usage"] = exc.ctx.get_usage()
    click.echo(json.dumps({"error": error}, ensure_ascii=False))
    sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mcphub")
def main() -> None:
    """MCP Hub: one MCP endpoint for every service your agent needs.

    \b
    Typical flow:
      mcphub serve                   # http://127.0.0.1:8765/mcp (first start: prints an admin key)
      mcphub add petstore.yaml       # spec + compile + mount + enable, in one step
      mcphub inspect petstore        # the tools a package serves
      mcphub compile                 # specs/*.yaml -> generated/<slug>/

    Commands act for the operator (the admin created on the first start) unless --user EMAIL or
    MCPHUB_USER says otherwise. With --json, output and errors are JSON.
    """


if __name__ == "__main__":
    main()
