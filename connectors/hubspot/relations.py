"""Relation fields as HubSpot associations (v4): a person's companies, a project's people and companies.

A relation field lists the HubSpot ids of the associated records (the engine translates
them to and from the other side's ids through its link table). Reading is one batch read
of the associations; writing reads the current ones and adds or archives the default
(unlabeled) association so HubSpot matches the wanted set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.client import HubSpotClient, HubSpotRejected
from connectors.hubspot.mapping import OBJECT_TYPE, RELATIONS
from connectors.hubspot.messages import one_line
from connectors.model import Entity

ADDRESS_PROPERTY = {"contacts": "email", "companies": "domain"}
"""The property holding the address Cloze knows a record by."""


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sub_category(error: Mapping[str, Any]) -> str:
    """An error's ``subCategory``: a string in live replies, an object in the OpenAPI files."""
    value = error.get("subCategory")
    if isinstance(value, Mapping):
        value = next((v for v in value.values() if isinstance(v, str)), "")
    return str(value or "")


def archive_failures(body: Any, inputs: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{from id: [to ids still linked]}`` from a batch/archive reply.

    v4 answers 204 with no body; 2026-03 answers a BatchResponse whose ``errors`` name the
    failed inputs in ``context.fromObjectId``. An error that names no input fails the whole chunk,
    so a link is never reported as removed when it may not be.
    """
    errors = (body or {}).get("errors") if isinstance(body, Mapping) else None
    if not errors:
        return {}
    wanted = {str(i["from"]["id"]): [str(t["id"]) for t in i["to"]] for i in inputs}
    failed: dict[str, list[str]] = {}
    for error in errors:
        named = [str(x) for x in ((error.get("context") or {}).get("fromObjectId") or []) if str(x) in wanted]
        for from_id in named or list(wanted):
            failed[from_id] = wanted[from_id]
    return failed


def association_refusals(body: Any, inputs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """``{(from id, to id): HubSpot's message}`` for the inputs a batch associate reply refused.

    A 207 reply's ``errors`` name the refused pairs in ``context.fromObjectId``/``toObjectId``;
    an error that names no input refuses every input of the chunk, so an association is never
    taken as made when it may not be.
    """
    errors = (body or {}).get("errors") if isinstance(body, Mapping) else None
    if not errors:
        return {}
    pairs = [(str(i["from"]["id"]), str(i["to"]["id"])) for i in inputs]
    refused: dict[tuple[str, str], str] = {}
    for error in errors:
        context = error.get("context") or {}
        froms = {str(x) for x in context.get("fromObjectId") or []}
        tos = {str(x) for x in context.get("toObjectId") or []}
        named = [p for p in pairs if (not froms or p[0] in froms) and (not tos or p[1] in tos) and (froms or tos)]
        message = one_line(str(error.get("message") or "no message"))
        for pair in named or pairs:
            refused[pair] = f"HubSpot {error.get('category') or 'error'}: {message}"
    return refused


@dataclass
class RelationOutcome:
    """Per record id and relation field: the ids HubSpot kept linked although asked to remove them,
    and the associations it refused to make (``{to id: HubSpot's message}``)."""

    not_removed: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(dict))
    not_added: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: defaultdict(dict))


class Relations:
    def __init__(self, client: HubSpotClient, batch_size: int) -> None:
        self.client = client
        self.batch_size = batch_size

    # -- reading ----------------------------------------------------------------------

    def read(self, entity: Entity, ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """``{record id: {relation field: [associated ids]}}`` for every id (empty lists included)."""
        out: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
        from_type = OBJECT_TYPE[entity]
        for field_name, to_type in RELATIONS[entity].items():
            links = self.associated(from_type, to_type, ids)
            for record_id in ids:
                out[record_id][field_name] = sorted(set(links.get(record_id, [])))
        return out

    def associated(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """``{from id: [to ids]}`` through the v4 batch read (no associations: an empty list)."""
        found: dict[str, list[str]] = {}
        for chunk in chunks(list(ids), self.batch_size):
            reply = self.client.post(self.client.paths.associations(from_type, to_type, "read"),
                                     {"inputs": [{"id": i} for i in chunk]})
            for result in (reply.body or {}).get("results", []):
                from_id = str((result.get("from") or {}).get("id"))
                found[from_id] = [str(t.get("toObjectId")) for t in result.get("to") or []]
            # 207 errors here say "no associations" (crm.associations.NO_ASSOCIATIONS_FOUND): nothing to add.
        return found

    # -- writing ----------------------------------------------------------------------

    def keys(self, object_type: str, ids: Sequence[str]) -> dict[str, str]:
        """``{id: address}`` (a contact's e-mail, a company's domain) for the records that have one.

        Relations between records travel as ids; only a timeline activity needs addresses,
        because Cloze attaches it to people and companies by address.
        """
        prop = ADDRESS_PROPERTY[object_type]
        out: dict[str, str] = {}
        for chunk in chunks(list(ids), self.batch_size):
            reply = self.client.post(f"{self.client.paths.objects(object_type)}/batch/read",
                                     {"inputs": [{"id": i} for i in chunk], "properties": [prop]})
            for obj in (reply.body or {}).get("results", []):
                key = (obj.get("properties") or {}).get(prop)
                if key:
                    out[str(obj["id"])] = str(key)
        return out

    def write(self, entity: Entity, wanted: Mapping[str, Mapping[str, Sequence[str]]]) -> RelationOutcome:
        """Make associations match ``{record id: {relation field: [associated ids]}}``.

        Returns the ids whose association HubSpot refused to archive (they are still linked) and
        those it refused to make, with its message.
        """
        from_type = OBJECT_TYPE[entity]
        outcome = RelationOutcome()
        for field_name, to_type in RELATIONS[entity].items():
            targets = {rid: list(fields[field_name]) for rid, fields in wanted.items() if field_name in fields}
            if not targets:
                continue
            current = self.associated(from_type, to_type, list(targets))
            add: list[dict[str, Any]] = []
            remove: list[dict[str, Any]] = []
            for record_id, ids in targets.items():
                want = {i for i in ids if i}
                have = set(current.get(record_id, []))
                add += [{"from": {"id": record_id}, "to": {"id": t}} for t in sorted(want - have)]
                gone = sorted(have - want)
                if gone:
                    remove.append({"from": {"id": record_id}, "to": [{"id": t} for t in gone]})
            for chunk in chunks(add, self.batch_size):
                for (record_id, to_id), message in self._associate(from_type, to_type, list(chunk)).items():
                    outcome.not_added[record_id].setdefault(field_name, {})[to_id] = message
            for chunk in chunks(remove, self.batch_size):
                reply = self.client.post(self.client.paths.associations(from_type, to_type, "archive"),
                                         {"inputs": list(chunk)})
                for record_id, kept in archive_failures(reply.body, chunk).items():
                    outcome.not_removed[record_id][field_name] = sorted(kept)
        return outcome

    def _associate(self, from_type: str, to_type: str, inputs: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        """Make default associations; the refused ``(from id, to id)`` pairs with HubSpot's message.

        A chunk refused as a whole (a 4xx) is sent again input by input, so each pair gets its own verdict.
        """
        try:
            reply = self.client.post(self.client.paths.associations(from_type, to_type, "associate/default"),
                                     {"inputs": inputs})
        except HubSpotRejected as exc:
            if len(inputs) > 1:
                refused: dict[tuple[str, str], str] = {}
                for item in inputs:
                    refused.update(self._associate(from_type, to_type, [item]))
                return refused
            pair = (str(inputs[0]["from"]["id"]), str(inputs[0]["to"]["id"]))
            return {pair: f"HubSpot {exc.code or exc.status}: {one_line(exc.message or 'no message')}"}
        return association_refusals(reply.body, inputs)
