"""A config file with every kind of mistake: exit 78, every problem listed with its key path, no traceback.

The loader checks in stages (the file's shape, then each connector's settings
and secret references, then the field mapping against the connectors), so the
mistakes are spread over one file per stage; within a file every mistake must
be reported at once. ``syncd config check`` and ``syncd reconcile`` both run on
each file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.procs import syncd_many

SHAPE = """\
[state]
path = 42

[logging]
level = "loud"
colour = "yes"

[daemon.http]
port = 70000

[pairs.main]
app_id = "HubSpot"
delete_policy = "erase"
surprise = 1

[pairs.main.safety]
max_delete_share = 1.5

[pairs.main.schedule]
interval = "1s"
jitter = "soon"

[pairs.main.cloze]
api_key = "k"

[pairs.main.external]
connector = "hubspot"

[pairs.main.entities.person]
policy = "loudest_wins"
match_on = ["shoe_size"]

[pairs.main.entities.person.fields]
stage = { values = { lead = "x", future = "x" } }
emails = { direction = "sideways" }
"""

SHAPE_KEYS = [
    "state.path", "logging.level", "logging.colour", "daemon.http.port", "pairs.main.app_id",
    "pairs.main.delete_policy", "pairs.main.surprise", "pairs.main.safety.max_delete_share",
    "pairs.main.schedule.interval", "pairs.main.schedule.jitter", "pairs.main.entities.person.policy",
    "pairs.main.entities.person.match_on", "pairs.main.entities.person.fields.stage.values",
    "pairs.main.entities.person.fields.emails.direction",
]

CONNECTORS = """\
[daemon.webhooks]
enabled = true

[daemon.http]
address = "0.0.0.0"

[pairs.main]
app_id = "hubspot.com"

[pairs.main.schedule]
timezone = "Mars/Olympus"

[pairs.main.cloze]
api_key = "env:SYNCD_TEST_NOT_SET_ANYWHERE"
base_url = "ftp://cloze.example"
page_size = 5000
timeout = -1
rate_per_second = "fast"

[pairs.main.external]
connector = "hubspot"
token = "file:/nonexistent/secret/file"
tokn = "typo"
api_version = "v2"
batch_size = 1000
identity_property = "Not A Name"

[pairs.second]
app_id = "tryton.example.com"

[pairs.second.cloze]
api_key = "credential:../escape"

[pairs.second.external]
connector = "no_such_connector"
"""

CONNECTOR_KEYS = [
    "daemon.webhooks.secret", "daemon.http.address", "pairs.main.schedule.reconcile_cron",
    "pairs.main.cloze.api_key: environment variable SYNCD_TEST_NOT_SET_ANYWHERE is not set",
    "pairs.main.cloze.base_url", "pairs.main.cloze.page_size", "pairs.main.cloze.timeout",
    "pairs.main.cloze.rate_per_second", "pairs.main.external.token: cannot read secret file",
    "pairs.main.external.tokn", "pairs.main.external.api_version", "pairs.main.external.batch_size",
    "pairs.main.external.identity_property", "pairs.second.cloze.api_key: credential name",
    "pairs.second.external.connector: unknown connector 'no_such_connector'",
]

MAPPING = """\
[pairs.main]
app_id = "hubspot.com"

[pairs.main.cloze]
api_key = "env:SYNCD_TEST_CLOZE_KEY"

[pairs.main.external]
connector = "hubspot"
token = "env:SYNCD_TEST_HUBSPOT_TOKEN"

[pairs.main.entities.person.fields]
firts = {}
"custom.x" = { direction = "both" }

[pairs.main.entities.project.fields]
emails = {}
"""

MAPPING_KEYS = [
    "pairs.main.entities.person.fields.firts", "pairs.main.entities.person.fields.custom.x",
    "pairs.main.entities.project.fields.emails",
]

SECRETS = {"SYNCD_TEST_CLOZE_KEY": "cloze-key-for-config-test", "SYNCD_TEST_HUBSPOT_TOKEN": "hubspot-token-xyz"}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, int, str]]:
    """``name -> (config check exit, its stderr, reconcile exit, its stderr)`` for every broken file."""
    tmp = tmp_path_factory.mktemp("configs")
    files = {
        "shape": _write(tmp, "shape.toml", SHAPE),
        "connectors": _write(tmp, "connectors.toml", CONNECTORS),
        "mapping": _write(tmp, "mapping.toml", MAPPING),
        "syntax": _write(tmp, "syntax.toml", '[pairs.main\napp_id = "hubspot.com"\n'),
        "empty": _write(tmp, "empty.toml", ""),
        "no-sides": _write(tmp, "nosides.toml", '[pairs.main]\napp_id = "hubspot.com"\n'),
        "not-utf8": _write(tmp, "latin1.toml", b'[pairs.main]\napp_id = "h\xe9bspot.com"\n'),
        "missing": tmp / "does-not-exist.toml",
    }
    also_run = ("shape", "connectors", "not-utf8")  # `syncd reconcile` reads the config the same way
    commands = [["config", "check", "--config", str(path)] for path in files.values()]
    commands += [["reconcile", "--config", str(files[name])] for name in also_run]
    results = syncd_many(commands, cwd=tmp, env=SECRETS)
    runs = dict(zip(also_run, results[len(files):]))
    out = {}
    for check, name in zip(results, files):
        run = runs.get(name, check)
        out[name] = (check.returncode, check.stderr + check.stdout, run.returncode, run.stderr + run.stdout)
    return out


@pytest.mark.parametrize("name, keys", [
    ("shape", SHAPE_KEYS), ("connectors", CONNECTOR_KEYS), ("mapping", MAPPING_KEYS),
    ("syntax", ["not valid TOML", "line 1"]), ("empty", ["pairs: Field required"]),
    ("no-sides", ["pairs.main.cloze: Field required", "pairs.main.external: Field required"]),
    ("not-utf8", ["latin1.toml"]), ("missing", ["does-not-exist.toml not found"]),
])
def test_every_mistake_is_listed_with_its_key_and_exit_78(
    checked: dict[str, tuple[int, str, int, str]], name: str, keys: list[str]
) -> None:
    check_code, check_text, run_code, run_text = checked[name]
    for text in (check_text, run_text):
        assert "Traceback" not in text, text
    assert (check_code, run_code) == (78, 78), f"{check_text}\n{run_text}"
    missing = [k for k in keys if k not in check_text]
    assert not missing, f"not reported: {missing}\n{check_text}"
    assert all(value not in check_text + run_text for value in SECRETS.values())
