"""``syncd doctor``: test each pair's credentials, scopes, properties and mapped fields; say what to fix.

Prints one line per problem, ``pairs.NAME.SIDE (where): what -- fix: how``, and
``ok`` for a side with none. Exit status: 0 all is well; 78 something in the
config or the account must be fixed; 1 credentials refused; 75 a side could not
be reached (see :mod:`syncd.outcome`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from syncd.cli import config_option, load
from syncd.cli_lazy import escape
from syncd.console import out


@click.command("doctor")
@config_option
@click.option("--pair", "pairs", multiple=True, help="only this pair (repeatable; default: every pair)")
@click.option("--facts", is_flag=True, help="also print what each side tells about its account (describe())")
def doctor_cmd(config_path: Path | None, pairs: tuple[str, ...], facts: bool) -> None:
    """Test each pair's credentials, scopes, properties and mapped fields; say what to fix."""
    from syncd import doctor

    loaded = load(config_path, quiet=True)
    names = list(pairs) or sorted(loaded.app.pairs)
    unknown = [p for p in names if p not in loaded.app.pairs]
    if unknown:
        raise click.UsageError(f"no such pair: {', '.join(unknown)}")
    found: list[doctor.Finding] = []
    for pair, side, findings in doctor.diagnose(loaded, names):
        found += findings
        for finding in findings:
            out.print(escape(finding.line()), highlight=False, soft_wrap=True)
        if not findings:
            out.print(f"pairs.{pair}.{side}: ok", highlight=False)
    if facts:
        for pair, side, described in doctor.describe(loaded, names):
            out.print(f"pairs.{pair}.{side} facts: {escape(json.dumps(described, default=str, sort_keys=True))}",
                      highlight=False, soft_wrap=True)
    code = doctor.exit_code(found)
    out.print(f"{len(found)} problem(s) found" if found else "all checks passed", highlight=False)
    raise SystemExit(code)
