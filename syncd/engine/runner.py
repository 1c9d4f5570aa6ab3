"""One run of one pair: read, plan with the pure core, check the safety cap, apply, record.

:func:`sync_pair` is what the CLI and the daemon call. It builds the pair's two
connectors from the config, takes the pair's lease in the state database (so a
manual ``reconcile`` and the daemon never run one pair at once), checks that the
state database belongs to the accounts the connectors reach, runs
:class:`PairEngine`, and always records the run and releases the lease.

The lease is fenced (:mod:`state.lease`): its epoch is checked by every state
transaction of the run, a thread renews it while the run reads, and the run
checks it before every batch of API writes. A run that lost its lease stops at
once and ends as ``lease_lost`` (exit 75).

With the pair's lease the run takes the accounts its two sides reach
(:mod:`state.budget`): two pairs on one Cloze or external account never run at
once, and the API calls of each batch are added to the account's daily ledger.

Cursors move only after every change read up to them has been applied and
recorded (record errors count as recorded: they are retried by id next run).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, TypeVar

import structlog

from config.loader import LoadedConfig
from config.models import PairConfig
from connectors import limits as run_limits
from connectors import runtag
from connectors.base import ApiObserver, Connector, ConnectorContext, NullObserver
from connectors.entities import ENTITY_KINDS
from connectors.errors import (
    ChangeHistoryLost,
    ConfigError,
    LeaseHeldError,
    LeaseLostError,
    RunDeadlineExceeded,
    SafetyStop,
    SyncdError,
)
from connectors.model import SIDES, Entity, Record, Side
from connectors.values import Value
from state.budget import UsageCounter
from state.lease import LeaseKeeper, LeaseToken
from state.models import JournalEntry, RecordErrorRow
from state.store import StateStore
from syncd.app_urls import app_url
from syncd.core.mapping import CUSTOM_CANONICAL_PREFIX, EntityMapping, build_entity_mapping
from syncd.core.plan import EntityPlan, LinkState, Observation, plan_entity
from syncd.core.sides import OTHER, as_side, ordered
from syncd.engine import activities, observe
from syncd.engine.accounts import account_keys, current_accounts, verify_accounts
from syncd.engine.executor import Context, Executor
from syncd.engine.links import LinkCache, decode_value, field_kinds, link_state
from syncd.engine.observe import Targets
from syncd.engine.relations import LinkedIds, unsynced_targets, with_references
from syncd.engine.report import RunReport
from syncd.engine.spill import DEFAULT_BATCH, HeldPlan, PlannedEntity, Spill, SpilledEntity
from syncd.outcome import failure_of
from syncd.progress import LogProgress, NullProgress, Progress

log = structlog.get_logger("syncd.engine")

_Row = TypeVar("_Row", JournalEntry, RecordErrorRow)

Mode = Literal["incremental", "full"]
# How many times links whose writes had side effects are synced again within one run.
SETTLE_PASSES = 2
LEASE_TTL = 60.0  # the default of [state] lease_ttl


def lease_owner() -> str:
    """``host:pid:run``: unique per run, and names the process so a dead holder can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def lease_orphaned(owner: str) -> bool:
    """A lease whose holder was a process of this host that no longer exists (killed mid-run)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def take_lease(store: StateStore, pair: str, owner: str, ttl: float = LEASE_TTL, *,
               accounts: Sequence[str] = ()) -> int | None:
    """Take the pair's lease, and with it the ``accounts`` its sides reach; its epoch, or None
    while another live process holds the pair, or another pair's run one of the accounts.

    One left behind by a killed process of this host is taken over at once, not after
    its TTL, with a claim conditional on that exact lease (owner and epoch), so of
    several processes finding the same orphan only one takes it.
    """
    epoch = store.claim_lease(pair, owner, ttl, accounts=accounts)
    if epoch is not None:
        return epoch
    holder = store.lease_holder(pair)
    if holder is None or not lease_orphaned(holder.owner):
        return None
    epoch = store.claim_lease(pair, owner, ttl, orphan=(holder.owner, holder.epoch), accounts=accounts)
    if epoch is not None:
        log.warning("orphaned_lease_taken_over", pair=pair, holder=holder.owner, epoch=epoch)
    return epoch


def custom_fields(pair: PairConfig, side: Side) -> dict[Entity, list[str]]:
    """Native custom-field ids each side must read, from the config alone."""
    out: dict[Entity, list[str]] = {}
    for entity, ecfg in pair.entities.items():
        for name, fm in (ecfg.fields or {}).items():
            if name.startswith(CUSTOM_CANONICAL_PREFIX) and fm.direction != "none":
                native = {"cloze": fm.cloze, "external": fm.external}[side]
                if native:
                    out.setdefault(entity, []).append(native)
    return out


def build_connectors(loaded: LoadedConfig, pair_name: str, observer: ApiObserver | None = None) -> dict[Side, Connector]:
    pair = loaded.pair(pair_name)
    conns: dict[Side, Connector] = {}
    for side in SIDES:
        ctx = ConnectorContext(
            pair=pair_name,
            side=side,
            app_id=pair.app_id,
            app_name=pair.app_name,
            app_url_template=pair.app_url,
            custom_fields=custom_fields(pair, side),
            observer=observer or NullObserver(),
            state_dir=loaded.state_path.parent,
        )
        conns[side] = loaded.connectors[pair_name][side](loaded.settings[pair_name][side], ctx)
    return conns


def pair_limits(pair: str, cfg: PairConfig) -> run_limits.RunLimits:
    """The bounds of one run of ``pair``, from ``[pairs.NAME.limits]``."""
    bound = cfg.limits
    return run_limits.RunLimits(
        request_deadline=bound.request_deadline,
        max_reply_bytes=int(bound.max_reply_mb * 1_048_576),
        max_records=bound.max_records,
        run_deadline=bound.run_deadline,
        pair=pair,
    )


def sync_pair(
    loaded: LoadedConfig,
    pair: str,
    *,
    store: StateStore,
    mode: Mode = "incremental",
    only: Targets | None = None,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    stop: threading.Event | None = None,
    observer: ApiObserver | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Run one pair once.

    Raises LeaseHeldError (exit 75) if another process is syncing it, StateLockedError
    (75) if the state database stays locked, AccountMismatchError (78) if the state
    database belongs to other accounts.

    ``progress`` shows how far the run has got; by default a ``progress`` log line every
    ``logging.progress_interval`` (the daemon's journal, JSON logs off a terminal).

    What goes wrong inside the run ends up in the returned report (see :mod:`syncd.outcome`);
    what goes wrong around it (taking the lease, building the connectors) is raised as a
    typed :class:`~connectors.errors.SyncdError`, never as a foreign exception.
    """
    try:
        return _sync_pair(loaded, pair, store=store, mode=mode, only=only, dry_run=dry_run,
                          allow_mass_delete=allow_mass_delete, stop=stop, observer=observer, progress=progress)
    except SyncdError:
        raise
    except Exception as exc:
        failure = failure_of(exc)
        log.error("run_failed", pair=pair, error=str(failure.error), exc_info=exc if failure.unexpected else None)
        raise failure.error from None


def _sync_pair(
    loaded: LoadedConfig,
    pair: str,
    *,
    store: StateStore,
    mode: Mode,
    only: Targets | None,
    dry_run: bool,
    allow_mass_delete: bool,
    stop: threading.Event | None,
    observer: ApiObserver | None,
    progress: Progress | None,
) -> RunReport:
    pair_cfg = loaded.pair(pair)
    keeper: LeaseKeeper | None = None
    run_store = store
    if not dry_run:
        owner, ttl = lease_owner(), loaded.app.state.lease_ttl
        keys = account_keys(loaded, pair)
        epoch = take_lease(store, pair, owner, ttl, accounts=list(keys.values()))
        if epoch is None:
            raise _busy(store, pair, keys)
        keeper = LeaseKeeper(store, LeaseToken(pair, owner, epoch, ttl)).start()
        usage = UsageCounter()
        observer = CountingObserver(observer or NullObserver(), usage, keys)
        run_store = store.fenced(keeper, usage)
    conns: dict[Side, Connector] = {}
    run_id = new_run_id()
    try:
        # Every request and read of this run, on this thread, is bounded by the pair's limits
        # and says which run (and lease epoch) sent it.
        with run_limits.applied(pair_limits(pair, pair_cfg)), \
                runtag.tagged(run_id, keeper.token.epoch if keeper else None, keeper.check if keeper else None):
            conns = build_connectors(loaded, pair, observer)
            engine = PairEngine(
                pair=pair, cfg=pair_cfg, cloze=conns["cloze"], external=conns["external"], store=run_store, mode=mode,
                only=only, dry_run=dry_run, allow_mass_delete=allow_mass_delete, stop=stop,
                lease=keeper, progress=progress or LogProgress(pair, loaded.app.logging.progress_interval),
                run_id=run_id,
            )
            return engine.run()
    finally:
        for conn in conns.values():
            conn.close()
        if keeper is not None:
            keeper.stop()
            if not keeper.lost:
                try:
                    store.release_lease(pair, keeper.token.owner, keeper.token.epoch)
                except Exception as exc:  # noqa: BLE001 - the run's outcome stands; the lease expires on its own
                    log.warning("lease_release_failed", pair=pair, error=str(failure_of(exc).error))


def _busy(store: StateStore, pair: str, keys: Mapping[Side, str]) -> LeaseHeldError:
    """Why the pair's run cannot start: its own lease is held, or another pair's run holds one of its accounts."""
    holder = store.lease_holder(pair)
    if holder is not None:
        return LeaseHeldError(f"pair {pair!r} is being synced by {holder.owner}", pair=pair,
                              hint="wait for it to finish (the daemon holds the lease while it syncs)")
    for side, key in keys.items():
        other = store.account_holder(key)
        if other is not None and other != pair:
            return LeaseHeldError(
                f"pair {pair!r} waits: its {side} account {key} is in use by pair {other!r}", pair=pair,
                hint="pairs sharing an account run one at a time, so together they keep to its rate limits")
    return LeaseHeldError(f"pair {pair!r} is being synced by another process", pair=pair,
                          hint="wait for it to finish (the daemon holds the lease while it syncs)")


class CountingObserver:
    """Passes every API call on to ``inner`` and counts it against the account of its side, with
    what the account says remains of its day (a :class:`~connectors.base.BudgetObserver`)."""

    def __init__(self, inner: ApiObserver, usage: UsageCounter, keys: Mapping[Side, str]) -> None:
        self.inner = inner
        self.usage = usage
        self.keys: dict[str, str] = {side: key for side, key in keys.items()}

    def api_request(self, side: str, method: str, status: int | None, seconds: float) -> None:
        key = self.keys.get(side)
        if key is not None:
            self.usage.count(key)
        self.inner.api_request(side, method, status, seconds)

    def api_retry(self, side: str, reason: str) -> None:
        self.inner.api_retry(side, reason)

    def api_budget(self, side: str, *, remaining: int | None, daily_limit: int | None) -> None:
        key = self.keys.get(side)
        if key is not None:
            self.usage.reported(key, remaining=remaining, daily_limit=daily_limit)


class PairEngine:
    """Runs one pair with two given connectors (the seam the property tests use)."""

    def __init__(
        self,
        *,
        pair: str,
        cfg: PairConfig,
        cloze: Connector,
        external: Connector,
        store: StateStore,
        mode: Mode = "incremental",
        only: Targets | None = None,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        stop: threading.Event | None = None,
        lease: LeaseKeeper | None = None,
        batch_size: int = 100,
        progress: Progress | None = None,
        run_id: str | None = None,
        plan_batch: int | None = None,
    ) -> None:
        self.pair = pair
        self.cfg = cfg
        self.conns: dict[Side, Connector] = {"cloze": cloze, "external": external}
        self.store = store
        self.mode = mode
        self.only = only
        self.dry_run = dry_run
        self.allow_mass_delete = allow_mass_delete
        self.stop = stop or threading.Event()
        self.lease = lease
        self.batch_size = batch_size
        # Records per planned batch of a full reconcile (whole components; see syncd.engine.spill).
        self.plan_batch = plan_batch or int(os.environ.get("SYNCD_RECONCILE_BATCH") or DEFAULT_BATCH)
        self._spill: Spill | None = None
        self.progress: Progress = progress or NullProgress()
        self.run_id = run_id or new_run_id()
        self.report = RunReport(self.run_id, pair, "webhook" if only else mode, dry_run=dry_run)
        self.log = log.bind(pair=pair, run_id=self.run_id, mode=self.report.mode)
        self.references = LinkedIds(store, pair)
        self._cursors_read: dict[Entity, dict[Side, str | None]] = {}  # as the run found them

    # -- the run -------------------------------------------------------------------

    def run(self) -> RunReport:
        report = self.report
        if not self.dry_run:
            self.store.start_run(self.run_id, self.pair, report.mode)
        self.log.info("run_started", dry_run=self.dry_run)
        try:
            for conn in self.conns.values():
                conn.begin_run()
            try:
                self._run()
            finally:
                if self._spill is not None:
                    self._spill.close()
                    self._spill = None
            self.progress.finish()
        except (Exception, KeyboardInterrupt) as exc:
            # The one place a run's exception becomes its outcome: a crash is never recorded as ok.
            failure = failure_of(exc)
            report.fail(failure)
            report.lease_lost = report.lease_lost or isinstance(exc, LeaseLostError)
            if failure.unexpected:
                self.log.error("run_crashed", error=report.error, exc_info=exc)
        report.finish()
        if not self.dry_run:
            try:
                self.store.finish_run(self.run_id, report.status, report.counts(), report.error)
            except Exception as exc:  # noqa: BLE001 - the state database refuses even this (full disk, say)
                failure = failure_of(exc)
                report.fail(failure)
                self.log.error("run_not_recorded", error=str(failure.error))
        emit = self.log.error if not report.ok else self.log.info
        emit("run_failed" if not report.ok else "run_finished", status=report.status,
             duration_s=round(report.duration_s, 3), error=report.error, **report.counts())
        return report

    def _entities(self) -> list[tuple[Entity, EntityMapping]]:
        out = []
        problems: list[str] = []
        # Each kind after the kinds it refers to (companies, then people, then projects): a
        # relation (a person's company, a project's client people) can then name a record
        # created earlier in the same run.
        for entity in ENTITY_KINDS.sync_order():
            ecfg = self.cfg.entities.get(entity)  # None: a kind declared after the config was read
            if ecfg is None or not ecfg.enabled:
                continue
            if any(entity not in c.entities() for c in self.conns.values()):
                continue
            mapping, found = build_entity_mapping(
                entity, ecfg, self.conns["cloze"].fields(entity), self.conns["external"].fields(entity),
                path=f"pairs.{self.pair}.entities.{entity}",
            )
            problems.extend(found)
            out.append((entity, replace(mapping, canonical_link=self._canonical_link(entity))))
        synced = [entity for entity, _ in out]
        for entity, mapping in out:
            ecfg = self.cfg.entities[entity]
            for name, target in unsynced_targets(mapping, synced).items():
                if ecfg.fields is not None:  # asked for by name: say why it is not synced
                    note = (f"pairs.{self.pair}.entities.{entity}.fields.{name} is not synced: it refers to "
                            f"{target} records, which this pair does not sync")
                    self.log.warning("reference_not_synced", entity=entity, field=name, target=target)
                    self.report.notes.append(note)
        out = [(entity, with_references(mapping, self.references, synced)) for entity, mapping in out]
        if problems:
            raise ConfigError("the field mapping does not fit the connectors", problems=problems, pair=self.pair)
        return out

    def _canonical_link(self, entity: Entity) -> Callable[[tuple[str, str]], tuple[str, str]]:
        """App Links of this pair's App ID, with the id in the external side's own form."""
        app_id, external = self.cfg.app_id.lower(), self.conns["external"]

        def canonical(key: tuple[str, str]) -> tuple[str, str]:
            return (key[0], external.canonical_id(entity, key[1])) if key[0] == app_id else key
        return canonical

    def _run(self) -> None:
        # Before anything is read or written: is this state database this pair's?
        verify_accounts(self.store, self.pair, current_accounts(self.conns, self.cfg.app_id), record=not self.dry_run)
        entities = self._entities()
        # What the read of every entity starts from, in one query each for the whole pair: nothing but
        # this run writes them until its writes begin (the lease), and an operator's choice made
        # meanwhile waits for the next run.
        journal = _by_entity([] if self.dry_run else self.store.journal_pending(self.pair))
        all_resolutions = self.store.resolutions(self.pair)
        open_errors = _by_entity(self.store.open_errors(self.pair))  # what to read again, what to hold
        self._cursors_read = {}
        for (entity_name, side), value in self.store.cursors(self.pair).items():
            self._cursors_read.setdefault(entity_name, {})[as_side(side)] = value
        planned: list[tuple[Entity, EntityMapping, PlannedEntity, observe.Observed, dict[int, dict[str, tuple[int, Any]]]]] = []
        for entity, mapping in entities:
            if self.only is not None and entity not in self.only:
                continue
            self._heartbeat()
            if journal.get(entity):
                self._recover_journal(entity, journal[entity])
            self.references.refresh()  # the journal recovery may have linked records
            resolutions = all_resolutions.get(entity, {})
            errors = open_errors.get(entity, [])
            self.progress.start(f"read {entity}")
            chosen = {lid: {f: v for f, (_, v) in fields.items()} for lid, fields in resolutions.items()}
            observed, links = self._observe(entity, mapping, resolutions, errors)
            self.progress.start(f"plan {entity}")
            hold = {(e.source_side, e.record_id): e.last_seen for e in errors if e.code == "merged_on_create"}
            if isinstance(links, SpilledEntity):
                self._plan_spilled(links, chosen, hold)
                planned_entity: PlannedEntity = links
            else:
                plan = plan_entity(
                    entity, links, observed.obs, mapping, app_id=self.cfg.app_id,
                    delete_policy=self.cfg.delete_policy, resolutions=chosen,
                    hold=hold, merges_on_create=self._merges_on_create(entity),
                )
                self.progress.advance(len(plan.actions))
                planned_entity = HeldPlan(plan)
            for side, n in observed.reads.items():
                self.report.reads[f"{side}.{entity}"] += n
            # The plan holds what its actions write; the records read are let go before the next entity is read.
            observed.obs = Observation()
            del links
            planned.append((entity, mapping, planned_entity, observed, resolutions))

        self._safety_cap([p for _, _, p, _, _ in planned])

        if self.dry_run:
            for entity, _, planned_entity, _, _ in planned:
                for plan in planned_entity.plans():
                    self.report.plan.extend(describe_plan(entity, plan))
                    self.report.record_errors += len(plan.errors) + len(plan.field_problems)
                    self.report.conflicts += sum(len(a.merge.conflicts) for a in plan.actions if a.merge)
                    self.report.pending_conflicts += sum(
                        1 for a in plan.actions if a.merge for c in a.merge.conflicts if c.outcome == "pending"
                    )
            return

        ctx = Context(
            pair=self.pair, app_id=self.cfg.app_id, app_name=self.cfg.app_name,
            app_url=self._app_url, conns=self.conns, store=self.store, report=self.report, run_id=self.run_id,
            stop=self.stop, batch_size=self.batch_size, on_batch=self._heartbeat, progress=self.progress,
        )
        for entity, mapping, planned_entity, observed, resolutions in planned:
            self.progress.start(f"write {entity}", total=planned_entity.actions)
            executor = Executor(ctx, entity, mapping, resolutions)
            # One planned batch in memory at a time; all() stops at the first one that was stopped.
            finished = all(executor.apply(plan) for plan in planned_entity.plans()) \
                and self._settle(ctx, entity, mapping, executor.settle)
            self.references.refresh()  # records of this kind linked now resolve the references to them
            if not finished:
                self.report.stopped = True
                self.log.info("run_stopped_early", entity=entity)
                return
            # A cursor that did not move is not written again (a quiet run then writes no cursor at all).
            moved = {side: value for side, value in observed.cursors.items()
                     if value is not None and value != self._cursors_read.get(entity, {}).get(side)}
            if self.only is None and moved:
                with self.store.transaction() as s:
                    for side, value in moved.items():
                        StateStore.set_cursor(s, self.pair, entity, side, value)
        if self.only is None:  # timeline activities: after every record pass, within their share of the run
            activities.run_pass(self.pair, self.cfg, self.conns, self.store, self.report, self.stop, self._heartbeat)

    def _settle(self, ctx: Context, entity: Entity, mapping: EntityMapping, pending: set[tuple[str, str]]) -> bool:
        """Sync again the links whose writes had side effects; False when stopped."""
        for _ in range(SETTLE_PASSES):
            if not pending:
                return True
            obs = Observation()
            pairs = [dict(zip(SIDES, ids)) for ids in pending]  # (cloze id, external id) by side
            for side in SIDES:
                reads = observe.add_by_id(obs, side, self.conns[side], entity, [p[side] for p in pairs], mapping)
                self.report.reads[f"{side}.{entity}"] += reads
            links = LinkCache(self.store, self.pair, entity)  # fresh: this run's writes changed them
            links.load_observed(obs, self.cfg.app_id)
            plan = plan_entity(entity, links.loaded(), obs, mapping, app_id=self.cfg.app_id,
                               delete_policy=self.cfg.delete_policy, resolutions={},
                               merges_on_create=self._merges_on_create(entity))
            self.log.info("settle_pass", entity=entity, links=len(pending), actions=len(plan.actions))
            executor = Executor(ctx, entity, mapping, {})
            if not executor.apply(plan):
                return False
            pending = executor.settle
        if pending:
            # Still moving after the passes: left for the next run, which syncs them as changes.
            self.log.warning("settle_unfinished", entity=entity, links=len(pending))
        return True

    def _merges_on_create(self, entity: Entity) -> dict[Side, frozenset[str]]:
        """Per side, the fields by which it merges a create into an existing record (its connector says)."""
        return {side: conn.capabilities(entity).merges_on_create for side, conn in self.conns.items()}

    def _app_url(self, entity: Entity, external_id: str) -> str:
        return app_url(self.cfg, self.conns["external"], entity, external_id)

    def _heartbeat(self) -> None:
        """Before each batch of writes: stop at once if the lease is gone (LeaseLostError) or the
        run's deadline has passed (RunDeadlineExceeded)."""
        bound = run_limits.current()
        left = bound.run_seconds_left()
        if left is not None and left <= 0:
            raise RunDeadlineExceeded(
                f"the run went past its deadline of {bound.run_deadline or 0:g} s; stopped between two batches",
                pair=self.pair,
                hint=f"the next run goes on from here; the bound is {bound.setting('run_deadline')}",
            )
        if self.lease is not None:
            self.lease.check()

    # -- reading -------------------------------------------------------------------

    def _observe(
        self, entity: Entity, mapping: EntityMapping, resolutions: Mapping[int, Any], errors: Sequence[RecordErrorRow]
    ) -> tuple[observe.Observed, list[LinkState] | SpilledEntity]:
        """What changed, and the links the plan of it needs: in an incremental run only those of
        the records read (looked up by id, see :mod:`syncd.engine.links`); a full run's listings and
        links are spilled and tied into components instead (:mod:`syncd.engine.spill`)."""
        cloze, external = self.conns["cloze"], self.conns["external"]
        links = LinkCache(self.store, self.pair, entity)
        retry: dict[Side, list[str]] = {side: [] for side in SIDES}
        for err in errors:
            retry[as_side(err.source_side)].append(err.record_id)
        if self.only is not None:
            observed = observe.observe_records(entity, mapping, self.conns, self.only.get(entity, {}))
        else:
            stored = self._cursors_read.get(entity, {})
            cursors: dict[Side, str | None] = {side: stored.get(side) for side in SIDES}
            if self.mode == "full" or any(v is None for v in cursors.values()):
                return self._observe_full(entity, mapping, resolutions)
            try:
                observed = observe.observe_changes(entity, mapping, cloze, external, cursors, self.progress.advance,
                                                   on_page=self._echo_filter(links, retry, resolutions))
            except ChangeHistoryLost as exc:
                self.log.warning("change_history_lost", entity=entity, side=exc.side, error=exc.message)
                self.report.notes.append(f"{entity}: {exc.message}; read in full instead (a full reconcile)")
                return self._observe_full(entity, mapping, resolutions)
        links.load_link_ids(resolutions)
        for link_id in resolutions:  # an operator's conflict choice is applied even if neither record changed
            link = links.by_id.get(link_id)
            if link is not None and link.cloze_id and link.external_id:
                for side in SIDES:
                    retry[side].append(link.id_on(side) or "")
        extra = observe.complete(observed.obs, entity, mapping, links, cloze, external, self.cfg.app_id, retry)
        for side, n in extra.items():
            observed.reads[side] = observed.reads.get(side, 0) + n
        return observed, links.loaded()

    def _echo_filter(self, links: LinkCache, retry: Mapping[Side, list[str]],
                     resolutions: Mapping[int, Any]) -> Callable[[Observation, Side, list[str]], None]:
        """Lets go of each page's records at rest as it is read (see :func:`observe.drop_at_rest`),
        except records with an open error or an operator's resolution waiting."""
        errors = {(side, rid) for side, ids in retry.items() for rid in ids}

        def keep(side: Side, rid: str, link: LinkState) -> bool:
            return (side, rid) in errors or link.id in resolutions

        def drop(obs: Observation, side: Side, ids: list[str]) -> None:
            observe.drop_at_rest(obs, side, ids, links, self.cfg.app_id, keep)
        return drop

    def _observe_full(self, entity: Entity, mapping: EntityMapping,
                      resolutions: Mapping[int, Mapping[str, tuple[int, Any]]]) -> tuple[observe.Observed, SpilledEntity]:
        """Both listings written out as read, and every link tied to its records (read in batches)."""
        cloze, external = self.conns["cloze"], self.conns["external"]
        if self._spill is None:
            self._spill = Spill()
        spilled = self._spill.entity(entity, mapping, self.cfg.app_id, self._merges_on_create(entity))
        observed = observe.observe_full(entity, mapping, cloze, external, self.progress.advance, sink=spilled.add)
        self._empty_side_guard(entity, spilled.counts)
        kinds = field_kinds(entity)
        for rows in self.store.iter_links(self.pair, entity):
            for row in rows:
                link = link_state(row, kinds)
                chosen = resolutions.get(link.id)
                spilled.add_link(link, {f: v for f, (_, v) in chosen.items()} if chosen else None)
        return observed, spilled

    def _plan_spilled(self, spilled: SpilledEntity, resolutions: Mapping[int, Mapping[str, Value]],
                      hold: Mapping[tuple[str, str], int]) -> None:
        """Plan a full reconcile's entity a batch of whole components at a time, each batch written out."""
        entity, kinds = spilled.entity, field_kinds(spilled.entity)
        for nodes, link_ids in spilled.components(self.plan_batch):
            links = [link_state(row, kinds) for row in self.store.links_with_ids(self.pair, entity, link_ids)]
            plan = plan_entity(
                entity, links, spilled.observation(nodes), spilled.mapping, app_id=self.cfg.app_id,
                delete_policy=self.cfg.delete_policy, resolutions=resolutions, hold=hold,
                merges_on_create=spilled.merges_on_create,
            )
            self.progress.advance(len(plan.actions))
            spilled.keep(plan)
        spilled.planned()

    def _recover_journal(self, entity: Entity, pending: Sequence[JournalEntry]) -> None:
        """Settle the creates a crash interrupted (``pending``, of ``entity``): link what was created,
        forget what was not."""
        kinds = field_kinds(entity)
        found_by_entry: dict[int | None, Record | None] = {}
        holders: dict[Side, dict[str, tuple[int | None, str | None]]] = {}
        for side in SIDES:
            entries = [e for e in pending if e.target_side == side]
            for start in range(0, len(entries), self.batch_size):  # one marker lookup per page of entries
                page = entries[start:start + self.batch_size]
                by_ref = self.conns[side].find_linked_many(entity, [e.source_id for e in page])
                found_by_entry.update({e.id: by_ref.get(e.source_id) for e in page})
            ids = [f.id for e in entries if (f := found_by_entry[e.id]) is not None]
            # The records found that an active link holds already: (link id, the other side's id).
            holders[side] = {
                (link.cloze_id if side == "cloze" else link.external_id) or "":
                    (link.id, link.external_id if side == "cloze" else link.cloze_id)
                for link in self.store.links_by_ids(self.pair, entity, side, ids) if link.status == "active"}
        with self.store.transaction() as s:
            for entry in pending:
                target = as_side(entry.target_side)
                found = found_by_entry[entry.id]
                holder = holders[target].get(found.id) if found is not None else None
                if found is not None and holder is not None and entry.source_id != holder[1] \
                        and holder[0] != entry.replaces_link:
                    # The record carrying the marker is linked to another record already: the created
                    # one was merged into it (keeping its markers), or the marker was copied onto it.
                    # Linking it here would steal that link; the planner reports the marker instead.
                    self.log.warning("journal_not_recovered", entity=entity, target=entry.target_side,
                                     source_id=entry.source_id, found_id=found.id, linked_to=holder[1])
                elif found is not None:
                    base = {k: decode_value(kinds, k, v) for k, v in json.loads(entry.base or "{}").items()}
                    cloze_id, external_id = ordered(OTHER[target], entry.source_id, found.id)
                    if entry.replaces_link is not None:
                        StateStore.delete_link(s, entry.replaces_link)
                    StateStore.save_link(
                        s, pair=self.pair, entity=entity, app_id=self.cfg.app_id, cloze_id=cloze_id,
                        external_id=external_id, base={k: _encode(v) for k, v in base.items()},
                        base_external={k: _encode(v) for k, v in base.items()},
                    )
                    self.log.info("journal_recovered", entity=entity, target=entry.target_side,
                                  source_id=entry.source_id, found_id=found.id)
                StateStore.journal_settle(s, self.pair, entity, entry.target_side, [entry.source_id])

    # -- safety --------------------------------------------------------------------

    def _empty_side_guard(self, entity: Entity, listed: Mapping[Side, int]) -> None:
        """A side that listed no record while links exist: stop before anything is planned."""
        if self.allow_mass_delete or all(listed[side] for side in SIDES):
            return
        active = self.store.link_count(self.pair, entity=entity)
        if not active:
            return
        for side in SIDES:
            if not listed[side]:
                raise SafetyStop(
                    f"the {side} side returned no {entity} records while {active} are linked; nothing was changed",
                    pair=self.pair, side=side, entity=entity,
                    hint="if the records really were all deleted, run `syncd reconcile --allow-mass-delete`",
                )

    def _safety_cap(self, plans: list[PlannedEntity]) -> None:
        deletes = sum(p.deletes for p in plans)
        if not deletes or self.allow_mass_delete:
            return
        safety = self.cfg.safety
        linked = max(self.store.link_count(self.pair), 1)
        over_count = deletes > safety.max_deletes
        over_share = deletes > safety.min_deletes_for_share and deletes / linked > safety.max_delete_share
        if not (over_count or over_share):
            return
        why = (
            f"this run would delete or unlink {deletes} of {linked} linked records "
            f"(limits: {safety.max_deletes} records, {safety.max_delete_share:.0%} of links); no deletes were applied"
        )
        self.log.warning("safety_stop", deletes=deletes, linked=linked, reason=why)
        self.report.notes.append(why + "; run `syncd reconcile --allow-mass-delete` to go ahead")
        self.report.deletes_held = deletes
        for plan in plans:
            plan.drop_deletes = True


def _by_entity(rows: Sequence[_Row]) -> dict[str, list[_Row]]:
    """State rows of a pair grouped by their ``entity``, in their order."""
    out: dict[str, list[_Row]] = {}
    for row in rows:
        out.setdefault(row.entity, []).append(row)
    return out


def _encode(value: Value) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


def describe_plan(entity: str, plan: EntityPlan) -> list[dict[str, Any]]:
    """The plan as JSON-able rows (what ``--dry-run`` prints)."""
    rows: list[dict[str, Any]] = []
    for a in plan.actions:
        row: dict[str, Any] = {"entity": entity, "action": a.kind, "cloze_id": a.cloze_id, "external_id": a.external_id}
        if a.merge is not None:
            row["cloze_fields"] = sorted(a.merge.cloze_patch)
            row["external_fields"] = sorted(a.merge.external_patch)
            row["conflicts"] = [f"{c.field}:{c.outcome}" for c in a.merge.conflicts]
            if not (a.merge.writes or a.merge.conflicts or a.add_app_link or a.set_cloze_ref):
                row["action"] = "link"
        if a.values:
            row["fields"] = sorted(k for k, v in a.values.items() if v not in (None, frozenset()))
        rows.append(row)
    for err in plan.errors:
        rows.append({"entity": entity, "action": "error", f"{err.side}_id": err.record_id, "message": err.message})
    return rows
