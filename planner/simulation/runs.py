"""Simulation jobs: fan-out over fixed blocks, idempotent block storage, merge, reaper, cancel.

Flow (docs/JOBS.md):

1. :func:`run_start` creates the run (queued, frozen snapshot) and, after commit, enqueues one
   ``planner.run_chunk`` task per group of ``chunk_blocks`` consecutive blocks.
2. :func:`chunk_execute` (the chunk task's body) marks each block ``running`` with a heartbeat
   and an attempt (a thread refreshes both heartbeats while the block runs), simulates it,
   stores its aggregate with an upsert keyed ``(run, block)`` and recounts the run's done blocks
   under a row lock. The update that completes the last block sets ``merge_enqueued_at`` (a
   conditional update, so exactly one caller wins) and enqueues the merge.
   Blocks already done are skipped, so a redelivered chunk never double-counts.
3. :func:`run_merge` combines the stored aggregates in block order and marks the run succeeded.
4. :func:`runs_reap` (periodic) finds queued/running runs without a recent heartbeat and
   re-queues their missing blocks, or fails them once a block has used all its attempts. It is
   what recovers from a lost message or a killed worker on every broker, including the
   filesystem broker, which cannot redeliver.

No chord and no result backend: everything a run needs to finish is in the database.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from planner import engine
from planner.accounts.models import Organization
from planner.core.enqueue import BROKER_ERRORS, RUN_CHUNK, RUN_MERGE, enqueue
from planner.engine.types import EngineInput
from planner.simulation import passes
from planner.simulation.adapter import SimulationInputError, engine_input_from_snapshot
from planner.simulation.heartbeats import ChunkHeartbeat
from planner.simulation.job_kinds import BlockJob, block_job
from planner.simulation.models import RunBlock, Scenario, SimulationRun
from planner.simulation.snapshot import scenario_snapshot

logger = logging.getLogger(__name__)

Enqueue = Callable[[int, list[int]], None]
EnqueueMerge = Callable[[int], None]
ACTIVE = (SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING)


def worker_name() -> str:
    """``host:pid`` of this process, recorded on the blocks it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _enqueue_chunk(run_id: int, blocks: list[int]) -> None:
    enqueue(RUN_CHUNK, run_id, blocks)


def _enqueue_merge(run_id: int) -> None:
    enqueue(RUN_MERGE, run_id)


def chunk_groups(blocks: Sequence[int], chunk_blocks: int) -> list[list[int]]:
    """Split ``blocks`` (sorted) into groups of at most ``chunk_blocks`` consecutive entries."""
    ordered = sorted(blocks)
    return [ordered[i : i + chunk_blocks] for i in range(0, len(ordered), chunk_blocks)]


SpecFor = Callable[[EngineInput], dict[str, Any]]


def run_start(
    *,
    scenario: Scenario,
    users: int | None = None,
    seed: int | None = None,
    kind: str = passes.RUN,
    spec_for: SpecFor | None = None,
) -> SimulationRun:
    """Create a queued run of ``scenario`` and enqueue its chunks after commit. A decision job
    (``kind``) gets its ``spec`` from ``spec_for(frozen inputs)`` (``planner.simulation.passes``).

    Raises :class:`SimulationInputError` with a readable message for invalid inputs, too many
    users or too many active runs in the organisation, and ``ValueError`` naming the field for
    a decision request ``spec_for`` refuses.
    """
    organization = scenario.product.organization
    with transaction.atomic():
        active_jobs_check(organization)
        run = run_create(scenario=scenario, users=users, seed=seed, kind=kind, spec_for=spec_for)
        run.chunk_blocks = settings.PLANNER_CHUNK_BLOCKS
        run.save(update_fields=["chunk_blocks"])
        run_id = run.pk
        transaction.on_commit(lambda: run_dispatch(run_id=run_id))
    return run


def active_jobs_check(organization: Organization) -> None:
    """Raise ``SimulationInputError`` when the organisation already has
    ``PLANNER_MAX_CONCURRENT_RUNS`` jobs queued or running (runs, decision jobs and replays
    alike); call it in the transaction that creates the next one."""
    limit = settings.PLANNER_MAX_CONCURRENT_RUNS
    active = SimulationRun.objects.filter(organization=organization, status__in=ACTIVE).count()
    if active >= limit:
        raise SimulationInputError(
            f"{organization.name} already has {active} runs queued or running (the limit is {limit}); "
            "wait for one to finish or cancel one."
        )


def run_dispatch(*, run_id: int, enqueue: Enqueue = _enqueue_chunk) -> int:
    """Enqueue chunk tasks for every block of the run that is not done; returns the count.

    The run is the outbox: ``dispatched_at`` is set once the broker took every chunk. When the
    broker cannot take them (down, refusing connections) nothing is raised: the run stays queued
    and undispatched, and the reaper dispatches it when the broker is back (``runs_reap``), so a
    request that starts a run never fails or waits on the broker.
    """
    run = SimulationRun.objects.only("blocks_total", "chunk_blocks", "status").filter(pk=run_id).first()
    if run is None or run.is_finished:
        return 0
    done = set(
        RunBlock.objects.filter(run_id=run_id, state=RunBlock.State.DONE).values_list("block", flat=True)
    )
    missing = [b for b in range(run.blocks_total) if b not in done]
    groups = chunk_groups(missing, run.chunk_blocks)
    try:
        for group in groups:
            enqueue(run_id, group)
    except BROKER_ERRORS as error:
        logger.warning("run dispatch failed, the reaper will retry run_id=%s error=%s", run_id, error)
        return 0
    SimulationRun.objects.filter(pk=run_id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    logger.info("run dispatched run_id=%s chunks=%s blocks=%s", run_id, len(groups), len(missing))
    return len(groups)


class StalePass(Exception):
    """A block of a decision job's pass that is no longer the current one (already merged)."""


@lru_cache(maxsize=4)
def _prepared(run_id: int, pass_index: int = 0) -> engine.PreparedRun:
    """The engine's setup of one pass of a job, cached per process: a run's snapshot never
    changes, nor does a pass once planned (``planner.simulation.passes``)."""
    run = SimulationRun.objects.only("snapshot", "users", "seed", "kind", "spec").get(pk=run_id)
    if run.kind != passes.RUN and passes.current_pass(run.spec) != pass_index:
        raise StalePass(f"run {run_id} is past pass {pass_index}")
    inputs = passes.pass_input(kind=run.kind, snapshot=run.snapshot, spec=run.spec)
    return engine.prepare(inputs, users=run.users, seed=run.seed)


@lru_cache(maxsize=16)
def _users(run_id: int) -> int:
    return int(SimulationRun.objects.values_list("users", flat=True).get(pk=run_id))


@lru_cache(maxsize=16)
def _kind(run_id: int) -> str:
    return str(SimulationRun.objects.values_list("kind", flat=True).get(pk=run_id))


def aggregate_to_bytes(aggregate: engine.BlockAggregate) -> bytes:
    """Serialise a block aggregate (compressed .npz)."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = dict(aggregate.to_arrays())
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def aggregate_from_bytes(data: bytes | memoryview) -> engine.BlockAggregate:
    """Inverse of :func:`aggregate_to_bytes`."""
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
        return engine.BlockAggregate.from_arrays({name: arrays[name] for name in arrays.files})


def _status(run_id: int) -> str:
    return str(SimulationRun.objects.filter(pk=run_id).values_list("status", flat=True).first() or "")


def _fail(run_id: int, message: str) -> None:
    updated = SimulationRun.objects.filter(pk=run_id, status__in=ACTIVE).update(
        status=SimulationRun.Status.FAILED, error=message, finished_at=timezone.now()
    )
    if updated:
        logger.warning("run failed run_id=%s error=%s", run_id, message)


def _block_begin(run_id: int, block: int, worker: str) -> RunBlock | None:
    """Mark ``block`` running (one more attempt) unless it is done; None when done already."""
    now = timezone.now()
    with transaction.atomic():
        row, created = RunBlock.objects.select_for_update().get_or_create(
            run_id=run_id, block=block, defaults={"attempts": 1, "worker": worker, "heartbeat_at": now}
        )
        if row.state == RunBlock.State.DONE:
            return None
        if not created:
            row.attempts += 1
            row.worker = worker
            row.heartbeat_at = now
            row.save(update_fields=["attempts", "worker", "heartbeat_at"])
        SimulationRun.objects.filter(pk=run_id).update(heartbeat_at=now)
    return row


def _block_finish(
    run_id: int, block: int, data: bytes, units: int, seconds: float, merge: EnqueueMerge
) -> bool:
    """Store a block's payload (``units`` of work: users, or customers for a replay) and
    recount the run; True when this call completed the run (and enqueued its merge)."""
    now = timezone.now()
    with transaction.atomic():
        run = SimulationRun.objects.select_for_update().only("blocks_total", "status").get(pk=run_id)
        RunBlock.objects.update_or_create(
            run_id=run_id,
            block=block,
            defaults={
                "state": RunBlock.State.DONE,
                "aggregate": data,
                "users": units,
                "seconds": seconds,
                "heartbeat_at": now,
            },
        )
        done = RunBlock.objects.filter(run_id=run_id, state=RunBlock.State.DONE).count()
        SimulationRun.objects.filter(pk=run_id).update(blocks_done=done, heartbeat_at=now)
        if done < run.blocks_total or run.status != SimulationRun.Status.RUNNING:
            return False
        won = SimulationRun.objects.filter(pk=run_id, merge_enqueued_at__isnull=True).update(
            merge_enqueued_at=now
        )
        if won:
            transaction.on_commit(lambda: merge(run_id))
        return bool(won)


def chunk_execute(
    *,
    run_id: int,
    blocks: Sequence[int],
    worker: str | None = None,
    enqueue_merge: EnqueueMerge | None = None,
) -> int:
    """Simulate ``blocks`` of a run and store them; returns how many blocks this call computed.
    The call that completes the run enqueues its merge with ``enqueue_merge`` (the merge task).

    Stops early (without error) when the run is cancelled or finished. A block that has used up
    ``PLANNER_MAX_BLOCK_ATTEMPTS`` fails the run with a readable error. A heartbeat thread keeps
    the run and the running block fresh every ``PLANNER_HEARTBEAT_SECONDS`` while the chunk runs
    (:class:`~planner.simulation.heartbeats.ChunkHeartbeat`), and stops with it.
    """
    worker = worker or worker_name()
    SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.QUEUED).update(
        status=SimulationRun.Status.RUNNING, started_at=timezone.now()
    )
    interval = settings.PLANNER_HEARTBEAT_SECONDS
    with ChunkHeartbeat(run_id=run_id, worker=worker, interval=interval) as heartbeat:
        merge = enqueue_merge or _enqueue_merge
        return _chunk_blocks(
            run_id=run_id, blocks=blocks, worker=worker, heartbeat=heartbeat, enqueue_merge=merge
        )


def _chunk_blocks(
    *, run_id: int, blocks: Sequence[int], worker: str, heartbeat: ChunkHeartbeat, enqueue_merge: EnqueueMerge
) -> int:
    computed = 0
    for block in blocks:
        if _status(run_id) != SimulationRun.Status.RUNNING:
            logger.info("chunk stops run_id=%s block=%s status=%s", run_id, block, _status(run_id))
            return computed
        row = _block_begin(run_id, block, worker)
        if row is None:
            continue
        if row.attempts > settings.PLANNER_MAX_BLOCK_ATTEMPTS:
            _fail(
                run_id,
                f"Block {block} could not be completed in {settings.PLANNER_MAX_BLOCK_ATTEMPTS} attempts "
                f"(last on worker {worker}); the run was stopped. Start it again, or contact support "
                "if it keeps failing.",
            )
            return computed
        started = time.perf_counter()
        heartbeat.block = block
        job = block_job(_kind(run_id))
        try:
            data, units = _block_compute(run_id, block) if job is None else job.compute_block(run_id, block)
        except StalePass:
            continue
        except ValueError as error:
            failure = "The scenario cannot be simulated" if job is None else job.failure
            _fail(run_id, f"{failure}: {error}")
            return computed
        _block_finish(run_id, block, data, units, time.perf_counter() - started, enqueue_merge)
        heartbeat.block = None
        computed += 1
    return computed


def _block_compute(run_id: int, block: int) -> tuple[bytes, int]:
    """Simulate one block of a run or decision job: its aggregate's bytes and its users."""
    pass_index, local = passes.pass_of_block(block, _users(run_id))
    aggregate = engine.simulate_block(_prepared(run_id, pass_index), local)
    return aggregate_to_bytes(aggregate), int(aggregate.users.sum())


def run_merge(*, run_id: int) -> SimulationRun | None:
    """Merge the stored blocks in block order into the results; marks the run succeeded.

    Returns ``None`` when the run no longer exists (its scenario was deleted meanwhile).
    """
    run = SimulationRun.objects.filter(pk=run_id).first()
    if run is None or run.is_finished:
        return run
    job = block_job(run.kind)
    if job is not None:
        return _merge_block_job(run, job)
    if run.kind != passes.RUN:
        return _merge_pass(run)
    rows = list(RunBlock.objects.filter(run_id=run_id, state=RunBlock.State.DONE).order_by("block"))
    if len(rows) != run.blocks_total:
        logger.warning("merge early run_id=%s done=%s total=%s", run_id, len(rows), run.blocks_total)
        return run
    prepared = _prepared(run_id, 0)  # the cache key its chunks used (a second prepare is seconds)
    aggregates = [aggregate_from_bytes(row.aggregate) for row in rows if row.aggregate is not None]
    results = engine.summarize(prepared, engine.merge(prepared, aggregates))
    started = run.started_at or run.created_at
    results["seconds"] = round((timezone.now() - started).total_seconds(), 3)
    SimulationRun.objects.filter(pk=run_id, status=SimulationRun.Status.RUNNING).update(
        status=SimulationRun.Status.SUCCEEDED, results=results, finished_at=timezone.now()
    )
    logger.info("run succeeded run_id=%s organization_id=%s", run_id, run.organization_id)
    run.refresh_from_db()
    return run


def _merge_block_job(run: SimulationRun, job: BlockJob) -> SimulationRun:
    """Merge a registered job kind's blocks (``planner.simulation.job_kinds``): its ``merge``
    makes the results from the payloads in block order; a ``ValueError`` fails the run."""
    rows = list(
        RunBlock.objects.filter(run=run, state=RunBlock.State.DONE)
        .order_by("block")
        .values_list("aggregate", flat=True)
    )
    if len(rows) != run.blocks_total:
        logger.warning("merge early run_id=%s done=%s total=%s", run.pk, len(rows), run.blocks_total)
        return run
    try:
        results = job.merge(run, [bytes(row or b"") for row in rows])
    except ValueError as error:
        _fail(run.pk, f"{job.failure}: {error}")
        run.refresh_from_db()
        return run
    started = run.started_at or run.created_at
    results["seconds"] = round((timezone.now() - started).total_seconds(), 3)
    SimulationRun.objects.filter(pk=run.pk, status=SimulationRun.Status.RUNNING).update(
        status=SimulationRun.Status.SUCCEEDED, results=results, finished_at=timezone.now()
    )
    logger.info("job succeeded run_id=%s kind=%s", run.pk, run.kind)
    run.refresh_from_db()
    return run


def _merge_pass(run: SimulationRun) -> SimulationRun:
    """Merge the current pass of a decision job: record its results in the job's state, then
    dispatch the next pass's blocks, or store the answer and mark the job succeeded. A second
    merge of the same pass (the reaper's, a redelivered task) changes nothing."""
    pass_index = passes.current_pass(run.spec)
    per_pass = passes.blocks_per_pass(run.users)
    first = pass_index * per_pass
    rows = list(
        RunBlock.objects.filter(
            run=run, state=RunBlock.State.DONE, block__gte=first, block__lt=first + per_pass
        ).order_by("block")
    )
    if len(rows) != per_pass:
        logger.warning("merge early run_id=%s pass=%s done=%s", run.pk, pass_index, len(rows))
        return run
    prepared = _prepared(run.pk, pass_index)
    aggregates = [aggregate_from_bytes(row.aggregate) for row in rows if row.aggregate is not None]
    spec = passes.pass_advance(spec=run.spec, prepared=prepared, merged=engine.merge(prepared, aggregates))
    with transaction.atomic():
        locked = SimulationRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != SimulationRun.Status.RUNNING or passes.current_pass(locked.spec) != pass_index:
            return locked
        locked.spec = spec
        if passes.has_next_pass(spec):
            locked.blocks_total = (pass_index + 2) * per_pass
            locked.merge_enqueued_at = None
            locked.save(update_fields=["spec", "blocks_total", "merge_enqueued_at"])
            transaction.on_commit(lambda: run_dispatch(run_id=run.pk))
            logger.info("job pass merged run_id=%s pass=%s", run.pk, pass_index)
        else:
            locked.results = passes.job_answer(
                spec=spec, snapshot=run.snapshot, users=run.users, seed=run.seed
            )
            started = locked.started_at or locked.created_at
            locked.results["seconds"] = round((timezone.now() - started).total_seconds(), 3)
            locked.status = SimulationRun.Status.SUCCEEDED
            locked.finished_at = timezone.now()
            locked.save(update_fields=["spec", "results", "status", "finished_at"])
            logger.info("job succeeded run_id=%s kind=%s passes=%s", run.pk, run.kind, pass_index + 1)
    return locked


def run_cancel(*, run: SimulationRun) -> SimulationRun:
    """Cancel a queued or running run; its chunks stop before their next block."""
    SimulationRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=SimulationRun.Status.CANCELLED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


@dataclass(frozen=True)
class ReapReport:
    """What one reaper pass did."""

    requeued_runs: list[int]
    requeued_chunks: int
    failed_runs: list[int]
    merges: list[int]


def runs_reap(
    *,
    now: datetime | None = None,
    stale_after: timedelta | None = None,
    enqueue: Enqueue = _enqueue_chunk,
    enqueue_merge: Callable[[int], None] = _enqueue_merge,
) -> ReapReport:
    """Recover runs that stopped making progress: re-queue, re-merge or fail them; and dispatch
    runs the broker could not take when they started.

    A run needs recovery when it has had no heartbeat for ``stale_after`` (every chunk lost), or
    when one of its blocks has been ``running`` without a heartbeat for that long (its chunk died
    while other chunks keep the run's heartbeat fresh). The pass claims the run with conditional
    updates of those heartbeats, so two reapers never both act on it.
    """
    now = now or timezone.now()
    stale_after = (
        stale_after if stale_after is not None else timedelta(seconds=settings.PLANNER_RUN_STALE_SECONDS)
    )
    cutoff = now - stale_after
    run_is_stale = Q(heartbeat_at__lte=cutoff) | Q(heartbeat_at__isnull=True, created_at__lte=cutoff)
    requeued: list[int] = []
    failed: list[int] = []
    merges: list[int] = []
    chunks = 0
    # Runs the broker could not take when they started: dispatch them now (a grace period leaves
    # a just-created run to the dispatch its request queued after commit).
    undispatched = SimulationRun.objects.filter(
        status=SimulationRun.Status.QUEUED,
        dispatched_at__isnull=True,
        created_at__lte=now - timedelta(seconds=settings.PLANNER_DISPATCH_GRACE_SECONDS),
    )
    for run_id in undispatched.values_list("pk", flat=True):
        dispatched = run_dispatch(run_id=run_id, enqueue=enqueue)
        if dispatched:
            chunks += dispatched
            requeued.append(run_id)
    for run in SimulationRun.objects.filter(status__in=ACTIVE).only("merge_enqueued_at"):
        if run.pk in requeued:
            continue
        claimed_run = SimulationRun.objects.filter(run_is_stale, pk=run.pk).update(heartbeat_at=now)
        claimed_blocks = RunBlock.objects.filter(
            run=run, state=RunBlock.State.RUNNING, heartbeat_at__lte=cutoff
        ).update(heartbeat_at=now)
        if not (claimed_run or claimed_blocks):
            continue
        exhausted = (
            RunBlock.objects.filter(run=run, attempts__gte=settings.PLANNER_MAX_BLOCK_ATTEMPTS)
            .exclude(state=RunBlock.State.DONE)
            .values_list("block", flat=True)
            .first()
        )
        if exhausted is not None:
            _fail(
                run.pk,
                f"Block {exhausted} was attempted {settings.PLANNER_MAX_BLOCK_ATTEMPTS} times without "
                "finishing (a worker crashed or timed out each time); the run was stopped.",
            )
            failed.append(run.pk)
        elif run.merge_enqueued_at is not None:
            enqueue_merge(run.pk)
            merges.append(run.pk)
        else:
            chunks += run_dispatch(run_id=run.pk, enqueue=enqueue)
            requeued.append(run.pk)
    if requeued or failed or merges:
        logger.info("reaper requeued=%s chunks=%s failed=%s merges=%s", requeued, chunks, failed, merges)
    return ReapReport(requeued_runs=requeued, requeued_chunks=chunks, failed_runs=failed, merges=merges)


def run_create(
    *,
    scenario: Scenario,
    users: int | None = None,
    seed: int | None = None,
    kind: str = passes.RUN,
    spec_for: SpecFor | None = None,
) -> SimulationRun:
    """Create a queued run of ``scenario`` with its frozen snapshot (does not execute it); a
    decision job's spec comes from ``spec_for`` (see :func:`run_start`)."""
    users = scenario.simulated_users if users is None else users
    seed = scenario.seed if seed is None else seed
    snapshot = scenario_snapshot(scenario=scenario)
    limit = settings.PLANNER_MAX_SIMULATED_USERS
    if not 1 <= users <= limit:
        raise SimulationInputError(f"users must be between 1 and {limit:,} (got {users:,}).")
    inputs = engine_input_from_snapshot(snapshot)
    try:
        engine.validate_inputs(inputs)
    except ValueError as error:
        raise SimulationInputError(str(error)) from error
    per_pass = passes.blocks_per_pass(users)
    spec: dict[str, Any] = {}
    if spec_for is not None:
        spec = spec_for(inputs)
        spec |= {"blocks_per_pass": per_pass, "blocks_expected": per_pass * spec.get("max_passes", 1)}
    run = SimulationRun(
        scenario=scenario,
        organization=scenario.product.organization,
        kind=kind,
        spec=spec,
        seed=seed,
        users=users,
        snapshot=snapshot,
        blocks_total=per_pass,
        package_versions=snapshot["package_versions"],
    )
    run.full_clean()
    run.save()
    logger.info("run created run_id=%s organization_id=%s users=%s", run.pk, run.organization_id, users)
    return run


ProgressCallback = Callable[[int, int], None]


def run_execute(*, run: SimulationRun, progress: ProgressCallback | None = None) -> SimulationRun:
    """Execute every block of ``run`` in this process (the synchronous path used by the CLI).

    Marks the run running, then succeeded with its results, or failed with a readable error.
    """
    started = time.perf_counter()
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.RUNNING, started_at=timezone.now()
    )
    try:
        prepared = engine.prepare(engine_input_from_snapshot(run.snapshot), users=run.users, seed=run.seed)
        blocks = []
        for block in range(prepared.blocks):
            blocks.append(engine.simulate_block(prepared, block))
            SimulationRun.objects.filter(pk=run.pk).update(blocks_done=block + 1, heartbeat_at=timezone.now())
            if progress is not None:
                progress(block + 1, prepared.blocks)
        results = engine.summarize(prepared, engine.merge(prepared, blocks))
    except ValueError as error:
        with transaction.atomic():
            SimulationRun.objects.filter(pk=run.pk).update(
                status=SimulationRun.Status.FAILED, error=str(error), finished_at=timezone.now()
            )
        logger.warning("run failed run_id=%s organization_id=%s error=%s", run.pk, run.organization_id, error)
        run.refresh_from_db()
        return run
    results["seconds"] = round(time.perf_counter() - started, 3)
    SimulationRun.objects.filter(pk=run.pk).update(
        status=SimulationRun.Status.SUCCEEDED, results=results, finished_at=timezone.now()
    )
    logger.info("run succeeded run_id=%s organization_id=%s", run.pk, run.organization_id)
    run.refresh_from_db()
    return run


def run_execute_in_blocks(*, run: SimulationRun) -> SimulationRun:
    """Execute a queued ``run`` (from :func:`run_create`) in this process exactly as workers do:
    every block stored by :func:`chunk_execute`, then :func:`run_merge` here instead of a merge
    task, so the run has the rows and results a worker writes (its blocks too, which compare's
    paired errors read; :func:`run_execute` stores none). ``seed_demo`` runs the demo this way."""
    caches = (_prepared, _users, _kind)  # keyed by run id; ids are reused after a rollback
    for cached in caches:
        cached.cache_clear()
    try:
        chunk_execute(run_id=run.pk, blocks=range(run.blocks_total), enqueue_merge=lambda _: None)
        return run_merge(run_id=run.pk) or run
    finally:
        for cached in caches:
            cached.cache_clear()
