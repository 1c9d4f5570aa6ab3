"""``syncd deploy units``: write the systemd units shipped in the package.

The units in the wheel are the ones in the repository's ``deploy/``. Their
``ExecStart=`` names ``/opt/cloze-syncd/bin/syncd`` (the README's install
path); when this ``syncd`` lives elsewhere, that path is replaced by its own, so
the written units start the installation that wrote them.
"""

from __future__ import annotations

import os
import sys
from importlib.resources import files
from pathlib import Path

import click

UNITS = ("cloze-syncd.service", "cloze-syncd-reconcile.service", "cloze-syncd-reconcile.timer",
         "cloze-syncd-worker.service")
INSTALLED_PATH = "/opt/cloze-syncd/bin/syncd"


def unit_text(name: str, executable: str | None = None) -> str:
    """A shipped unit file, with ``ExecStart=`` pointing at ``executable`` (default: this installation's)."""
    text = (files("syncd") / "units" / name).read_text(encoding="utf-8")
    if executable is None:
        here = Path(sys.executable).with_name("syncd")  # the console script of this environment
        executable = str(here) if here.exists() else INSTALLED_PATH
    return text.replace(INSTALLED_PATH, executable)


@click.group("deploy")
def deploy_group() -> None:
    """Write the files a systemd installation needs."""


@deploy_group.command("units")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/etc/systemd/system"), show_default=True, help="where the unit files are written")
@click.option("--force", is_flag=True, help="replace unit files that differ from the shipped ones")
def deploy_units(directory: Path, force: bool) -> None:
    """Write cloze-syncd.service and the reconcile service and timer (mode 0644)."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = {name: unit_text(name) for name in UNITS}
    clashes = [n for n, t in texts.items() if (directory / n).exists() and (directory / n).read_text() != t]
    if clashes and not force:
        raise click.ClickException(
            f"{', '.join(clashes)} in {directory} differ from the shipped units; nothing was written "
            "(compare them, then add --force to replace them)")
    for name, text in texts.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o644)
        click.echo(f"wrote {path}")
    click.echo("next: sudo systemctl daemon-reload, then see the README's 'Running as a service'")
