"""Every HTTP side takes the same retry keys, and a connector's session retries as they say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.cloze.connector import ClozeSettings
from connectors.http import RetryPolicy, RetrySettings
from connectors.hubspot.settings import HubSpotSettings
from connectors.salesforce.settings import SalesforceSettings

REQUIRED = {
    ClozeSettings: {"api_key": "k"},
    HubSpotSettings: {"token": "t"},
    SalesforceSettings: {"auth": "session", "instance_url": "https://example.my.salesforce.com",
                         "session_id": "tok"},
}


@pytest.mark.parametrize("settings_type", list(REQUIRED), ids=lambda t: t.__name__)
def test_retry_keys_are_the_same_on_every_http_side(settings_type: type[RetrySettings]) -> None:
    assert issubclass(settings_type, RetrySettings)
    default = settings_type.model_validate(REQUIRED[settings_type]).retry_policy()
    assert default == RetryPolicy()
    tuned = settings_type.model_validate({**REQUIRED[settings_type], "retry_attempts": 2, "retry_initial_wait": 0.1,
                                          "retry_max_total": 9}).retry_policy()
    assert (tuned.attempts, tuned.initial, tuned.max_total) == (2, 0.1, 9)
    with pytest.raises(ValidationError):
        settings_type.model_validate({**REQUIRED[settings_type], "retry_attempts": 0})
