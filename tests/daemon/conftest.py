"""Fixtures for the daemon tests: a Cloze emulator, a config file, a ``syncd run`` subprocess."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.cloze.emulator import DEFAULT_API_KEY, ClozeEmulator
from tests.daemon.procs import Daemon

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
ENV = {"SYNCD_TEST_CLOZE_KEY": DEFAULT_API_KEY, "SYNCD_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def emulator() -> Iterator[ClozeEmulator]:
    emu = ClozeEmulator(webhook_time_scale=0.01).start()
    yield emu
    emu.stop()


def config_text(
    tmp: Path,
    cloze_url: str,
    *,
    interval: float = 3600,
    reconcile_cron: str | None = "0 3 * * 0",
    port: int = 0,
    public_url: str = "http://127.0.0.1:9",
    shutdown_timeout: float = 20,
    debounce: float = 0.2,
    health_max_age: str = "1h",
    page_size: int = 500,
    rate_per_second: float = 1000,
) -> str:
    cron = f'reconcile_cron = "{reconcile_cron}"' if reconcile_cron else "reconcile_cron = \"\""
    return f"""
[state]
path = "{tmp / 'state.db'}"

[logging]
level = "info"
format = "json"

[daemon]
shutdown_timeout = "{shutdown_timeout}s"

[daemon.http]
address = "127.0.0.1"
port = {port}
health_max_age = "{health_max_age}"

[daemon.webhooks]
enabled = true
public_url = "{public_url}"
secret = "env:SYNCD_TEST_WEBHOOK_SECRET"
debounce = "{debounce}s"

[pairs.main]
app_id = "crm.example.com"
app_name = "Example CRM"

[pairs.main.schedule]
interval = "{interval}s"
jitter = 0
{cron}

[pairs.main.cloze]
api_key = "env:SYNCD_TEST_CLOZE_KEY"
base_url = "{cloze_url}"
page_size = {page_size}
rate_per_second = {rate_per_second}
retry_max_total = 20

[pairs.main.external]
connector = "memory"
backend = "external"
path = "{tmp / 'external.json'}"
"""


@pytest.fixture
def write_config(tmp_path: Path, emulator: ClozeEmulator) -> Callable[..., Path]:
    def write(**kw: Any) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(config_text(tmp_path, emulator.url, **kw))
        return path

    return write


@pytest.fixture
def start_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)  # for in-process CLI calls too

    def start(config: Path, env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(config, tmp_path, {**ENV, **(env or {})})
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()
