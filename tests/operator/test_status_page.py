"""The daemon's status page at ``/`` renders its data in headless Chromium, with no external assets."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from state.store import StateStore, dumps
from tests.daemon.conftest import emulator, start_daemon, write_config  # noqa: F401 - fixtures
from tests.daemon.procs import Daemon
from tests.operator.png import ink_share

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--window-size=1200,1400"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180, check=False)


def _backlog(state: Path) -> None:
    store = StateStore.open(state)
    with store.transaction() as s:
        link = StateStore.save_link(s, pair="main", entity="person", app_id="crm.example.com", cloze_id="c-ann",
                                    external_id="e-ann",
                                    base={"first": "Ann", "last": "Lee", "emails": ["ann@acme.example"]})
        StateStore.record_conflict(s, run_id="r", pair="main", entity="person", link_id=link, cloze_id="c-ann",
                                   external_id="e-ann", field="title", base=dumps("CEO"), cloze_value=dumps("Chair"),
                                   external_value=dumps("Owner"), policy="manual", outcome="pending", status="open")
        StateStore.record_error(s, run_id="r", pair="main", entity="person", side="external", op="create",
                                record_id="c-tomas", source_side="cloze", code="VALIDATION_ERROR",
                                message='Property "cloze_lead_source" does not exist', label="Tomás Ruiz <t@b.example>")
    store.close()


@pytest.mark.timeout(400)
def test_status_page_in_headless_chromium(
    write_config: Callable[..., Path], start_daemon: Callable[..., Daemon], tmp_path: Path,  # noqa: F811
) -> None:
    daemon = start_daemon(write_config())
    daemon.wait_ready()
    daemon.wait_event("run_finished", timeout=60)  # the first incremental run starts at once
    _backlog(tmp_path / "state.db")

    reply = httpx.get(daemon.url + "/", timeout=10)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    assert "<script" not in reply.text and "http://" not in reply.text.replace('xmlns="http://www.w3.org/2000/svg"', "")

    if CHROMIUM is None:
        pytest.skip("chromium (Debian package chromium) not installed")
    dom = _chromium(tmp_path, "--dump-dom", daemon.url + "/")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "pair main" in page and "Ann Lee &lt;ann@acme.example&gt;" in page and "Tomás Ruiz" in page
    assert "cloze_lead_source" in page and "<svg" in page and 'class="run"' in page
    assert "<td>1</td>" in page  # the pending conflict and the record error are counted in the summary

    shot = tmp_path / "status.png"
    taken = _chromium(tmp_path, f"--screenshot={shot}", daemon.url + "/")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    blank = tmp_path / "blank.png"
    _chromium(tmp_path, f"--screenshot={blank}", "about:blank")
    assert ink_share(blank.read_bytes()) < 0.001  # the check itself tells blank from rendered
    assert ink_share(shot.read_bytes()) > 0.02


def test_render_escapes_crm_values_and_charts_the_day() -> None:
    from syncd.status_page import DAY_MS, PairView, RunPoint, render

    now = 1_800_000_000_000
    runs = [RunPoint("r2", "full", "failed", now - 3_600_000, 42.0, 0),
            RunPoint("r1", "incremental", "ok", now - DAY_MS + 60_000, 3.5, 120)]
    errors = [{"pair": "main", "entity": "person", "side": "external", "op": "create", "code": "X", "field": None,
               "cause": "<b>bad</b>", "count": 1,
               "records": [{"record": "<script>alert(1)</script>", "side": "cloze", "side_id": "c1",
                            "other_id": None, "attempts": 2, "last_seen": ""}]}]
    page = render([PairView("main", 7, runs, [], errors, {"last_success": None})], now, "9.9")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bad" in page
    assert page.count('class="run"') == 2 and page.count('class="written"') == 1
    assert 'fill="#cf222e"' in page  # the failed run is drawn in red
    assert "<td>120</td>" in page  # records written today, in the summary row
