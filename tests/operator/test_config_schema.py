"""``syncd config schema`` prints the config's JSON Schema, in step with the models."""

from __future__ import annotations

import json
import subprocess
import sys

from config.models import AppConfig


def test_schema_is_the_models_json_schema() -> None:
    done = subprocess.run([sys.executable, "-m", "syncd.cli", "config", "schema"], capture_output=True, text=True,
                          timeout=60, check=True)
    schema = json.loads(done.stdout)
    assert schema["$schema"].endswith("2020-12/schema") and schema["required"] == ["pairs"]
    assert schema["$defs"] == AppConfig.model_json_schema()["$defs"]
    schedule = schema["$defs"]["ScheduleConfig"]
    assert schedule["additionalProperties"] is False and "reconcile_cron" in schedule["properties"]
