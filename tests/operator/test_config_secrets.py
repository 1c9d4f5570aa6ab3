"""The "secrets inline" warning is about secret fields holding literal values, not about key names."""

from __future__ import annotations

import os
import re
from pathlib import Path

from config.loader import load_config
from syncd.sandbox import write_config

WARNING = "holds secrets inline"


def _config(tmp_path: Path, mode: int, token: str | None = None) -> Path:
    path = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    if token is not None:
        path.write_text(re.sub(r'^token = ".*"$', f'token = "{token}"', path.read_text(), flags=re.MULTILINE))
    os.chmod(path, mode)
    return path


def test_references_only_in_a_readable_file_give_no_warning(tmp_path: Path) -> None:
    path = _config(tmp_path, 0o644)
    assert 'token_kind = "private_app"' in path.read_text()  # a key whose name says "token", holding no secret
    loaded = load_config(path)
    assert not [w for w in loaded.warnings if WARNING in w]
    assert "private_app" not in loaded.secrets


def test_a_literal_token_in_a_readable_file_is_warned_about(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path, 0o644, token="pat-literal-123"))
    assert [w for w in loaded.warnings if WARNING in w]
    assert "pat-literal-123" in loaded.secrets  # scrubbed from logs
    assert not load_config(_config(tmp_path, 0o600, token="pat-literal-123")).warnings
