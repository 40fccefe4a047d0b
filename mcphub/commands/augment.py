"""`mcphub augment SLUG`: the LLM augment pass, into the reviewable `specs/<slug>.augment.yaml`.

The CLI loads it on first use from its line in `mcphub/commands/__init__.py`'s COMMANDS table.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcphub.compiler.augment_llm import DEFAULT_BATCH_SIZE, DEFAULT_LIMIT

if TYPE_CHECKING:
    from mcphub.compiler.augment_llm import AugmentRun

__all__ = ["augment"]

DEFAULT_SPECS = Path("specs")


def _spec_path(slug: str, specs_dir: Path) -> Path:
    """specs/<slug>.yaml, or SLUG itself when it is a spec file; an error lists the specs that exist."""
    given = Path(slug)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    path = specs_dir / f"{slug}.yaml"
    if path.is_file():
        return path
    known = sorted(
        p.name.split(".")[0] for p in specs_dir.glob("*.yaml") if not p.name.endswith((".augment.yaml", ".lock.yaml"))
    )
    close = difflib.get_close_matches(slug, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f" (specs there: {', '.join(known) or 'none'})"
    raise click.ClickException(f"{path}: no such spec{hint}")


def _progress(number: int, batches: int, names: list[str], run: AugmentRun) -> None:
    usage = run.llm.usage
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    click.echo(
        f"  batch {number}/{batches}: {shown}  ({usage.input_tokens:,} in / {usage.output_tokens:,} out tokens so far)",
        err=True,
    )


@click.command()
@click.argument("slug")
@click.option(
    "--specs",
    "specs_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_SPECS,
    show_default=True,
    help="Folder of hub specs.",
)
@click.option("--check", is_flag=True, help="Ask nothing; exit 1 if the augment file is missing or stale.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Tools to ask about per run.",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 50), default=DEFAULT_BATCH_SIZE, show_default=True, help="Tools per request."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def augment(slug: str, specs_dir: Path, check: bool, limit: int, batch_size: int, as_json: bool) -> None:
    """Propose better tool names and descriptions with the LLM, into specs/<slug>.augment.yaml for review.

    The description linter ranks the spec's tools; the weakest (and those whose names were cut to
    fit with a hash suffix) go to the model in batches, at most --limit per run. It proposes
    descriptions written for agents (what the tool does, when to use it, what it returns), names
    within the name budget, names for collapsed arguments (`page[limit]` → `page_limit`),
    argument descriptions, examples and defaults, and destructive flags. Proposals a compile would
    refuse are left out and listed. A later run keeps the file's entries (when the source is the
    same) and asks about the next weakest tools.

    Review the file (it is YAML: edit or delete any entry), commit it, then `mcphub compile`
    applies it — without any LLM; whatever the spec itself sets wins over it.

    Needs ANTHROPIC_API_KEY (MCPHUB_LLM_MODEL picks the model); --check needs no key.

    \b
    Examples:
      mcphub augment stripe                 # specs/stripe.yaml -> specs/stripe.augment.yaml
      mcphub augment stripe --limit 10
      mcphub augment stripe --check         # CI: is the file made for this source and spec?
    """
    from mcphub.compiler import augment_llm
    from mcphub.compiler.errors import CompileError
    from mcphub.compiler.llm import llm_from_env

    spec_path = _spec_path(slug, specs_dir)
    try:
        if check:
            reasons = augment_llm.check_spec(spec_path)
        else:
            llm = llm_from_env()
            run = augment_llm.augment_spec(
                spec_path,
                llm,
                limit=limit,
                batch_size=batch_size,
                progress=None if as_json else _progress,
            )
    except CompileError as exc:
        raise click.ClickException(str(exc)) from exc
    if check:
        _report_check(spec_path, reasons, as_json=as_json)
        if reasons:
            sys.exit(1)
        return
    if as_json:
        click.echo(json.dumps({"slug": run.file.slug, **run.as_dict()}))
        return
    _report_run(run)


def _report_check(spec_path: Path, reasons: list[str], *, as_json: bool) -> None:
    from mcphub.compiler.augment import augment_path

    path = augment_path(spec_path)
    slug = spec_path.name.split(".")[0]
    if as_json:
        click.echo(json.dumps({"slug": slug, "file": str(path), "stale": bool(reasons), "reasons": reasons}))
    elif reasons:
        click.secho(f"✗ {path}: {'; '.join(reasons)}", fg="red", err=True)
        click.echo(f"  run `mcphub augment {slug}`, review the file and commit it", err=True)
    else:
        click.echo(f"✓ {path} matches its source and spec")


def _report_run(run: AugmentRun) -> None:
    for note in run.notes:
        click.echo(f"  left out: {note}", err=True)
    asked = f"{len(run.asked)} tool{'s' if len(run.asked) != 1 else ''} asked"
    kept = f", {run.kept} entries kept" if run.kept else ""
    if not run.asked:
        asked = "no tool needed asking"
    click.echo(
        f"✓ {run.path}: {asked}{kept}, {len(run.file.tools)} in the file; "
        f"descriptions {run.score_before}/100 → {run.score_after}/100"
    )
    if run.remaining:
        click.echo(f"  {run.remaining} weaker tools left: run it again to ask about the next ones")
    click.echo(f"  {run.llm.usage.summary()}")
    click.echo(f"  review it (git diff {run.path}), then `mcphub compile` applies it")
