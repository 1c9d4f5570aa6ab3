"""HubSpot's validation errors become one line naming the property, the problem and HubSpot's code."""

from __future__ import annotations

import json

from connectors.hubspot.emulator.errors import PropertyProblem, validation_message
from connectors.hubspot.messages import one_line
from connectors.hubspot.writes import _error_text


def test_embedded_property_list_is_summarised_on_one_line() -> None:
    problems = [PropertyProblem("cloze_lead_source", "PROPERTY_DOESNT_EXIST", 'Property "cloze_lead_source" does not exist'),
                PropertyProblem("industry", "INVALID_OPTION", '"Bakery" was not one of the allowed options')]
    compact = validation_message(problems, 4242424)
    lead, _, items = compact.partition(": ")
    pretty = f"{lead}: {json.dumps(json.loads(items), indent=2)}"  # as HubSpot sometimes sends it
    for message in (compact, pretty):
        text = _error_text({"category": "VALIDATION_ERROR", "message": message})
        assert "\n" not in text and "portalId" not in text
        assert text == ('HubSpot VALIDATION_ERROR: Property values were not valid: Property "cloze_lead_source" does '
                        'not exist (PROPERTY_DOESNT_EXIST); industry: "Bakery" was not one of the allowed options '
                        "(INVALID_OPTION)")


def test_plain_messages_only_lose_their_line_breaks() -> None:
    assert one_line("Contact already exists.\n  Existing ID: 1234") == "Contact already exists. Existing ID: 1234"
    assert one_line("bad [bracket") == "bad [bracket"
