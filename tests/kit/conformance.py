"""The conformance suite every connector passes: the rules of ``docs/connectors.md`` as tests.

A connector's test module subclasses :class:`ConnectorConformance` and supplies two
fixtures, ``connector`` (bound to a fresh, reachable account: an emulator, a real
server, a file) and ``refused_connector`` (the same account with credentials it
refuses), as vdirsyncer's storages subclass its ``StorageTests``::

    class TestMine(ConnectorConformance):
        side = "external"

        @pytest.fixture
        def connector(self, tmp_path): ...

        @pytest.fixture
        def refused_connector(self, tmp_path): ...

Each assertion message says which rule of the page the connector broke, so a
failing test tells its author what is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr, ValidationError

from connectors.base import Connector, ConnectorSettings, Problem
from connectors.errors import AuthError
from connectors.model import (
    CUSTOM_PREFIX,
    AppLink,
    ChangePage,
    CreateRequest,
    Record,
    SetPatch,
    Side,
    UpdateRequest,
    WriteResult,
)
from connectors.values import BadValue, normalize

PAGE = "docs/connectors.md"


def _uid() -> str:
    return uuid.uuid4().hex[:10]


class ConnectorConformance:
    """Subclass it, set :attr:`side`, and provide the ``connector`` and ``refused_connector`` fixtures."""

    side: ClassVar[Side] = "external"
    """Which join marker the connector keeps: App Links (``"cloze"``) or a Cloze identity (``"external"``)."""
    has_credentials: ClassVar[bool] = True
    """False for a side with nothing to refuse (the memory example): the credentials test is skipped."""
    feed_size: ClassVar[int] = 5
    """How many records the feed tests create; make it larger than the connector's page size under test."""

    # -- what a subclass may adapt ---------------------------------------------------

    def person(self, tag: str) -> dict[str, Any]:
        """Canonical fields of a new person; ``tag`` makes its e-mail unique."""
        return {"first": "Ada", "last": f"Lovelace{tag}", "emails": SetPatch(result=frozenset({f"ada.{tag}@example.com"}))}

    def marker(self, connector: Connector[Any]) -> str:
        """A fresh join-marker reference: an external id on the Cloze side, a Cloze identity elsewhere."""
        return f"ref-{_uid()}"

    # -- helpers -----------------------------------------------------------------------

    def create(self, connector: Connector[Any], fields: Mapping[str, Any], ref: str | None = None,
               key: str = "k") -> WriteResult:
        marker = self.marker_of(connector, ref) if ref is not None else {}
        [result] = connector.create("person", [CreateRequest(key, fields, **marker)])
        assert result.ok, f"create failed: {result.error} ({PAGE}: Writes)"
        assert result.id, f"a successful create must return the new record's id in WriteResult.id ({PAGE}: Writes)"
        return result

    def read(self, connector: Connector[Any], record_id: str) -> Record:
        got = connector.get("person", [record_id])
        assert record_id in got, (f"get() did not return record {record_id!r} that create() just made; get() keys the "
                                  f"result by the id create() returned ({PAGE}: Reads)")
        return got[record_id]

    def drain(self, connector: Connector[Any], cursor: str | None = None) -> tuple[list[ChangePage], str | None]:
        pages = list(connector.changes("person", cursor))  # no page at all: nothing changed, the cursor stands
        return pages, pages[-1].cursor if pages else cursor

    def now(self, connector: Connector[Any]) -> str | None:
        """A cursor after every change so far: ``current_cursor()``, or the end of the feed."""
        return connector.current_cursor("person") or self.drain(connector)[1]

    @staticmethod
    def canon(connector: Connector[Any], name: str, value: Any) -> Any:
        kind = connector.fields("person")[name].kind
        try:
            return normalize(kind, sorted(value.result) if isinstance(value, SetPatch) else value)
        except BadValue as exc:
            raise AssertionError(f"field {name!r} came back as {value!r}, which is not a {kind.value} value "
                                 f"({PAGE}: Records)") from exc

    SPARE_VALUES: ClassVar[dict[str, str]] = {"tags": "vip", "phones": "+1 555 0100", "addresses": "1 Main St, Springfield"}

    def spare_field(self, connector: Connector[Any]) -> str:
        """A field this side holds that :meth:`person` leaves empty: the update tests write it."""
        fields = connector.fields("person")
        free = [n for n, spec in fields.items() if n not in self.person("x") and (spec.kind.value == "text"
                                                                                or n in self.SPARE_VALUES)]
        ranked = sorted(free, key=lambda n: (n not in ("title", "company"), fields[n].kind.value != "text", n))
        assert ranked, f"fields('person') holds nothing besides names and e-mails: nothing to update ({PAGE})"
        return ranked[0]

    def spare(self, connector: Connector[Any], text: str | None) -> dict[str, Any]:
        """The fields of an update writing ``text`` into the spare field (``None``: clearing it)."""
        name = self.spare_field(connector)
        if not connector.fields("person")[name].kind.is_set:
            return {name: text}
        value = frozenset() if text is None else frozenset({self.SPARE_VALUES[name]})
        return {name: SetPatch(add=value, remove=frozenset() if text else frozenset(self.SPARE_VALUES.values()),
                               result=value)}

    def has_marker(self, connector: Connector[Any], record: Record, ref: str) -> bool:
        if self.side == "cloze":
            return any(a.key == AppLink(connector.context.app_id, ref).key for a in record.app_links)
        return record.cloze_ref == ref

    # -- description and settings ----------------------------------------------------

    def test_settings_are_typed_and_strict(self, connector: Connector[Any]) -> None:
        settings_type = type(connector).Settings
        assert issubclass(settings_type, ConnectorSettings), f"Settings must subclass ConnectorSettings ({PAGE}: Settings)"
        assert isinstance(connector.settings, settings_type), "self.settings must be the connector's Settings model"
        with pytest.raises(ValidationError):
            settings_type.model_validate({**connector.settings.model_dump(), "no_such_setting_xyz": 1})
        with pytest.raises(TypeError):  # another connector's settings are a wiring slip, caught at once
            type(connector)(ConnectorSettings(), connector.context)

    def test_entities_and_fields_are_canonical(self, connector: Connector[Any]) -> None:
        assert "person" in connector.entities(), f"entities() must list the kinds this side syncs ({PAGE})"
        fields = connector.fields("person")
        for name in ("first", "last", "emails"):
            assert name in fields, f"fields('person') lacks the canonical field {name!r} ({PAGE}: Records)"
        assert all(spec.name == name for name, spec in fields.items()), "each FieldSpec's name must be its key"

    def test_check_finds_nothing_wrong_with_a_good_account(self, connector: Connector[Any]) -> None:
        problems = connector.check()
        assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems), \
            f"check() returns a list of Problem ({PAGE}: Checking an account)"
        assert problems == [], f"check() reported problems on a healthy account: {problems}"

    def test_refused_credentials_raise_auth_error(self, request: pytest.FixtureRequest) -> None:
        if not self.has_credentials:
            pytest.skip("this side has no credentials to refuse")
        refused_connector: Connector[Any] = request.getfixturevalue("refused_connector")
        with pytest.raises(AuthError) as check_err:
            refused_connector.check()
        with pytest.raises(AuthError):
            list(refused_connector.changes("person", None))
        assert "Traceback" not in str(check_err.value)

    def test_account_identity_is_stable_and_names_no_secret(self, connector: Connector[Any]) -> None:
        first, second = connector.account_identity(), connector.account_identity()
        assert first == second, f"account_identity() must name the account the same way every time ({PAGE})"
        secrets = [v.get_secret_value() for v in connector.settings.__dict__.values() if isinstance(v, SecretStr)]
        leaked = [k for k, v in first.items() if any(s and s in v for s in secrets)]
        assert not leaked, f"account_identity() must name the account, never a credential: {leaked} ({PAGE})"

    # -- reads -------------------------------------------------------------------------

    def test_created_record_reads_back_in_canonical_form(self, connector: Connector[Any]) -> None:
        tag = _uid()
        wanted = self.person(tag)
        result = self.create(connector, wanted)
        assert result.key == "k", f"WriteResult.key must echo the request's key ({PAGE}: Writes)"
        assert result.record is not None and result.record.id == result.id, \
            f"WriteResult.record must be the record as the side now holds it, read back ({PAGE}: Writes)"
        record = self.read(connector, result.id or "")
        fields = connector.fields("person")
        unknown = [k for k in record.fields if k not in fields and not k.startswith(CUSTOM_PREFIX)]
        assert not unknown, f"Record.fields must use canonical names (fields()) or custom:<id>; got {unknown} ({PAGE})"
        for name, value in wanted.items():
            assert self.canon(connector, name, record.fields.get(name)) == self.canon(connector, name, value), \
                f"field {name!r} reads back as {record.fields.get(name)!r}, not what was written ({PAGE}: Records)"
        assert not record.archived

    def company(self, tag: str) -> dict[str, Any]:
        """Canonical fields of a new company; ``tag`` makes its domain unique."""
        return {"name": f"Analytical Engines {tag}", "domains": SetPatch(result=frozenset({f"engines-{tag}.example"}))}

    def test_a_company_reads_back_in_canonical_form(self, connector: Connector[Any]) -> None:
        if "company" not in connector.entities():
            pytest.skip("this side does not sync companies")
        wanted = {k: v for k, v in self.company(_uid()).items() if k in connector.fields("company")}
        marker = self.marker_of(connector, self.marker(connector))
        [made] = connector.create("company", [CreateRequest("c", wanted, **marker)])
        assert made.ok and made.id, f"company create failed: {made.error} ({PAGE}: Writes)"
        record = connector.get("company", [made.id]).get(made.id)
        assert record is not None, f"get('company') did not return the company create() just made ({PAGE}: Reads)"
        fields = connector.fields("company")
        unknown = [k for k in record.fields if k not in fields and not k.startswith(CUSTOM_PREFIX)]
        assert not unknown, f"Record.fields must use canonical names; got {unknown} ({PAGE}: Records)"
        for name, value in wanted.items():
            kind = fields[name].kind
            got = normalize(kind, record.fields.get(name))
            assert got == normalize(kind, sorted(value.result) if isinstance(value, SetPatch) else value), \
                f"company field {name!r} reads back as {record.fields.get(name)!r} ({PAGE}: Records)"

    def marker_of(self, connector: Connector[Any], ref: str) -> dict[str, Any]:
        """The join-marker part of a CreateRequest for ``ref``, on this side."""
        if self.side == "cloze":
            return {"app_link": AppLink(connector.context.app_id, ref, "CRM")}
        return {"cloze_ref": ref}

    def test_get_leaves_out_ids_that_do_not_exist(self, connector: Connector[Any]) -> None:
        gone = self.create(connector, self.person(_uid())).id or ""
        connector.delete("person", [gone])
        got = connector.get("person", [gone])
        assert gone not in got or got[gone].archived, \
            f"get() must leave out a deleted id (or return it with archived=True) ({PAGE}: Reads)"

    def test_lookup_matches_emails_case_insensitively(self, connector: Connector[Any]) -> None:
        tag = _uid()
        made = self.create(connector, self.person(tag)).id
        for needle in (f"ada.{tag}@example.com", f"Ada.{tag.upper()}@Example.COM"):
            found = [r.id for r in connector.lookup("person", "emails", needle)]
            assert made in found, f"lookup('emails', {needle!r}) did not find the record holding it ({PAGE}: Reads)"
        assert connector.lookup("person", "emails", f"nobody.{_uid()}@example.com") == []

    # -- the join marker ---------------------------------------------------------------

    def test_create_stamps_the_join_marker_for_find_linked(self, connector: Connector[Any]) -> None:
        ref = self.marker(connector)
        made = self.create(connector, self.person(_uid()), ref)
        found = connector.find_linked("person", ref)
        assert found is not None, f"find_linked() did not find the record created with marker {ref!r} ({PAGE}: Join markers)"
        assert found.id == made.id and self.has_marker(connector, found, ref), \
            f"the record found must be the one created, carrying its marker ({PAGE}: Join markers)"
        assert connector.find_linked("person", self.marker(connector)) is None

    def test_a_create_repeated_after_a_crash_leaves_one_record(self, connector: Connector[Any]) -> None:
        ref, fields = self.marker(connector), self.person(_uid())
        first = self.create(connector, fields, ref, key="first")
        # The process died before it recorded the link; the next run finds the record, or repeats the create.
        assert connector.find_linked("person", ref) is not None, f"the marker must be findable at once ({PAGE})"
        [again] = connector.create("person", [CreateRequest("again", fields, **self.marker_of(connector, ref))])
        holders = [r.id for page in connector.list_all("person") for r in page if self.has_marker(connector, r, ref)]
        assert holders == [first.id], (f"after a repeated create, exactly the first record must carry marker {ref!r}; "
                                       f"found {holders} (the create must be idempotent on its marker: {PAGE})")
        assert not again.ok or again.id == first.id, "a repeated create that succeeds must name the first record"

    # -- writes --------------------------------------------------------------------------

    def test_update_changes_only_the_given_fields(self, connector: Connector[Any]) -> None:
        tag = _uid()
        wanted = self.person(tag)
        made = self.create(connector, wanted).id or ""
        spare, [(name, value)] = self.spare_field(connector), self.spare(connector, "Analyst").items()
        [result] = connector.update("person", [UpdateRequest(made, {name: value})])
        assert result.ok and result.key == made, f"update failed: {result.error}"
        record = self.read(connector, made)
        assert self.canon(connector, spare, record.fields.get(spare)) == self.canon(connector, spare, value), \
            f"the updated field {spare!r} reads back as {record.fields.get(spare)!r} ({PAGE}: Writes)"
        for name, value in wanted.items():
            assert self.canon(connector, name, record.fields.get(name)) == self.canon(connector, name, value), \
                f"update of {spare!r} changed {name!r} to {record.fields.get(name)!r}: touch only given fields ({PAGE})"
        [cleared] = connector.update("person", [UpdateRequest(made, self.spare(connector, None))])
        assert cleared.ok and self.read(connector, made).fields.get(spare) in (None, "", [], ()), \
            f"a field set to None must be cleared ({PAGE}: Writes)"

    def test_one_bad_record_fails_alone_without_raising(self, connector: Connector[Any]) -> None:
        good = self.create(connector, self.person(_uid())).id or ""
        gone = self.create(connector, self.person(_uid())).id or ""
        connector.delete("person", [gone])
        batch = [UpdateRequest(gone, self.spare(connector, "X")), UpdateRequest(good, self.spare(connector, "Y"))]
        try:
            results = connector.update("person", batch)
        except Exception as exc:
            raise AssertionError(f"update() raised {exc!r} for one missing record; return a failed WriteResult for it "
                                 f"and write the rest of the batch ({PAGE}: Errors)") from exc
        assert [r.key for r in results] == [gone, good], f"results must come in request order ({PAGE}: Writes)"
        missing, ok = results
        archived = gone in (got := connector.get("person", [gone])) and got[gone].archived
        assert archived or (not missing.ok and missing.error), \
            f"an update of a missing record must be a failed WriteResult with the side's message ({PAGE}: Errors)"
        assert ok.ok, f"the other record of the batch must still be written: {ok.error} ({PAGE}: Errors)"

    def test_delete_is_reported_and_repeatable(self, connector: Connector[Any]) -> None:
        made = self.create(connector, self.person(_uid())).id or ""
        cursor = self.now(connector)
        [deleted] = connector.delete("person", [made])
        assert deleted.ok and deleted.key == made, f"delete failed: {deleted.error}"
        pages, _ = self.drain(connector, cursor)
        reported = {i for p in pages for i in p.deleted_ids} | {r.id for p in pages for r in p.records if r.archived}
        listed = {r.id for page in connector.list_all("person") for r in page}
        assert made in reported or made not in listed, \
            f"a deleted record must leave list_all() or be reported by changes() ({PAGE}: Feed)"
        if made in listed:
            assert made in reported, f"an archived record still listed must come as archived or in deleted_ids ({PAGE})"
        [again] = connector.delete("person", [made])  # a retried delete (the first one's reply was lost)
        assert again.key == made and again.ok, \
            f"deleting a record already gone is done, not a failure: {again.error} ({PAGE}: Writes)"

    # -- the change feed --------------------------------------------------------------------

    def test_feed_returns_every_change_after_the_cursor(self, connector: Connector[Any]) -> None:
        cursor = self.now(connector)
        made = [self.create(connector, self.person(_uid()), key=str(i)).id for i in range(self.feed_size)]
        pages, end = self.drain(connector, cursor)
        seen = [r.id for p in pages for r in p.records]
        names = set(connector.fields("person"))
        odd = {k for p in pages for r in p.records for k in r.fields if k not in names and not k.startswith(CUSTOM_PREFIX)}
        assert not odd, f"records from changes() must use canonical field names too; got {sorted(odd)} ({PAGE})"
        missed = [i for i in made if i not in seen]
        assert not missed, f"changes() skipped records changed after the cursor: {missed} ({PAGE}: Feed)"
        assert end is not None, "the last page must carry the cursor to poll from next time"
        # Resuming from any page's cursor covers the rest: what came after that page must come again.
        for n, page in enumerate(pages[:-1]):
            later = {r.id for p in pages[n + 1:] for r in p.records} & set(made)
            again = {r.id for p in connector.changes("person", page.cursor) for r in p.records}
            assert later <= again, (f"resuming from page {n}'s cursor skipped {sorted(later - again)}: a page's cursor "
                                    f"is the position after that page ({PAGE}: Feed)")
        # A change after the end cursor is in the next poll, and only a change is.
        [edited] = connector.update("person", [UpdateRequest(made[0] or "", self.spare(connector, "Edited"))])
        assert edited.ok, f"update failed: {edited.error}"
        next_ids = [r.id for p in connector.changes("person", end) for r in p.records]
        assert made[0] in next_ids, f"an update after the last cursor must appear in the next poll ({PAGE}: Feed)"

    def test_list_all_pages_hold_every_live_record(self, connector: Connector[Any]) -> None:
        made = {self.create(connector, self.person(_uid()), key=str(i)).id for i in range(3)}
        listed = [r.id for page in connector.list_all("person") for r in page]
        assert made <= set(listed), f"list_all() missed {sorted(made - set(listed))} ({PAGE}: Reads)"
        assert len(listed) == len(set(listed)), "list_all() must return each record once"
