"""The discrete-event engine: requests, slots, KV admission and reconfiguration in SimPy.

Time is float seconds; nothing advances per cycle. Each request is a SimPy process: it waits
for its KV cache to be admitted, then runs its stages, each on the slot of its phase class,
operator after operator. The holder of a slot runs consecutive operators as one batch (one
event) while nothing can interleave; when another request (or the reconfiguration controller)
joins the slot's queue, the holder is woken, finishes the operator in progress and, if the
newcomer is at least as urgent, releases the slot at that operator boundary (kernels are never
preempted). The per-operator log is rebuilt from the batches, so every operator keeps its own
start and end.

Scheduling policies (the order of a slot's queue; lower key first, ties by request time):

* ``priority``: stream priority, then the older request;
* ``fifo``: the older request, whatever its stream;
* ``edf``: the earlier absolute deadline;
* ``round-robin``: stream priority only, so kernels of equally urgent requests take turns.

Reconfiguration policies of a ``reconfigurable`` chip while both phase classes are active
(:attr:`SimOptions.reconfig_policy`):

* ``split``: the two slots split as in ``static``, whatever the requests' streams;
* ``priority``: the split follows the higher-priority stream's phase. When the most urgent
  request in flight (lowest stream priority number) of one class is more urgent than every
  request of the other class, that class's slot gets :attr:`SimOptions.priority_share` of
  every resource (configuration ``"prefill-first"`` or ``"decode-first"``) and the other
  slot the rest; at a share of 1 the other slot is held by the controller, so its kernels
  wait as they would behind a higher-priority kernel on a fixed chip. When the two classes'
  most urgent requests are of equal priority the slots split as in ``split``. Stream
  priority decides here whatever the queue policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from chipdse.accounting import FULL, PhaseLayout, Shares, partition_params
from chipdse.analytic import activation_workspace_bytes
from chipdse.cost import ChipParams, CostOptions
from chipdse.errors import UserError
from chipdse.sim.log import BatchLog
from chipdse.sim.plan import (
    OpNames,
    Segment,
    Stage,
    StagePlan,
    build_stages,
    cost_stage,
    request_segments,
)
from chipdse.sim.resources import CONTROL_PRIORITY, KVStore, Slot
from microarch.chip import Chip, PhaseMode
from microarch.excerpt import excerpt
from workloads.graph import request_kv_bytes
from workloads.ops import ArchArrays, weights_total_bytes
from workloads.precision import Precision
from workloads.trace import Stream, Trace

__all__ = ["SimOptions", "Request", "Simulator", "POLICIES", "RECONFIG_POLICIES",
           "MAX_OPERATORS", "MAX_REQUEST_OPERATORS", "BYTES_PER_PLAN_OPERATOR"]

POLICIES = ("priority", "fifo", "edf", "round-robin")
RECONFIG_POLICIES = ("split", "priority")
# A run's memory grows with its batches (chipdse.sim.log: 40 B each once packed; one per stage
# of a request when nothing contends, at worst one per operator under round-robin contention)
# and with its distinct stage plans (costs of every operator of one request's stage, about
# BYTES_PER_PLAN_OPERATOR each while they are built and summed: measured 250 B, peak RSS
# 386 MB for one request of 1.31 M operators, 59 MB for 13 k). Neither grows with the event
# log: the per-operator rows are rebuilt in bounded chunks when they are written.
# MAX_OPERATORS bounds a run's time (and, at one batch per operator, its memory to ~4 GB);
# MAX_REQUEST_OPERATORS bounds one request's plans (~1 GB).
BYTES_PER_PLAN_OPERATOR = 250
MAX_OPERATORS = 100_000_000
MAX_REQUEST_OPERATORS = 4_000_000


@dataclass(frozen=True)
class SimOptions:
    """Simulator switches.

    Attributes:
        policy: slot queue order (see the module docstring).
        kv_overflow: "spill" (a cache that does not fit in KV SRAM spills to DRAM) or "wait"
            (the request waits until it fits).
        util_bin_s: width of the utilisation time bins (None: horizon / 2000, at least 1 ms).
        max_trace_ops: above this many operators the Perfetto trace (at detail "auto") shows
            one slice per run of a phase instead of one per operator.
        max_operators: a trace that would simulate more operators is refused before it runs
            (see ``MAX_OPERATORS``).
        max_request_operators: a request with more operators than this (one request's stage
            plans are held in memory, ``BYTES_PER_PLAN_OPERATOR`` each) is refused before it
            runs.
        reconfig_policy: how a reconfigurable chip splits while both phase classes are
            active: "split" (the static split) or "priority" (the split follows the
            higher-priority stream's phase; see the module docstring).
        priority_share: under "priority", the share of compute, bandwidth and SRAM the more
            urgent phase class gets (0.5 < share <= 1; 1: the whole chip, the other class
            waits).
    """

    policy: str = "priority"
    kv_overflow: str = "spill"
    util_bin_s: float | None = None
    max_trace_ops: int = 100_000
    max_operators: int = MAX_OPERATORS
    max_request_operators: int = MAX_REQUEST_OPERATORS
    reconfig_policy: str = "split"
    priority_share: float = 1.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UserError(f"policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.reconfig_policy not in RECONFIG_POLICIES:
            raise UserError(f"reconfig_policy must be one of {', '.join(RECONFIG_POLICIES)}, "
                            f"got {excerpt(self.reconfig_policy)}")
        q = self.priority_share
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.5 < q <= 1.0:
            raise UserError(f"priority_share must be a number in (0.5, 1], got {excerpt(q)}")
        if self.kv_overflow not in ("spill", "wait"):
            raise UserError(f"kv_overflow must be 'spill' or 'wait', got {self.kv_overflow!r}")
        if self.util_bin_s is not None and not self.util_bin_s > 0:
            raise UserError(f"util_bin_s must be > 0, got {excerpt(self.util_bin_s)}")
        for name, low in (("max_operators", 1), ("max_request_operators", 1),
                          ("max_trace_ops", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"{name} must be an integer >= {low}, got {excerpt(v)}")


@dataclass
class Request:
    """One request in flight (times in seconds; NaN until they happen)."""

    id: int
    stream: int
    arrival_s: float
    deadline_s: float
    key: tuple
    kv_need_bytes: int
    kv_sram_bytes: int = 0
    kv_dram_bytes: int = 0
    admitted_s: float = float("nan")
    end_s: float = float("nan")


@dataclass
class _StreamWork:
    stream: Stream
    stages: list[Stage]
    kv_need_bytes: int


class Simulator:
    """One simulation of ``trace`` on ``chip`` (build, then :meth:`run`)."""

    def __init__(self, chip: Chip, trace: Trace, precision: Precision, duration_s: float,
                 seed: int = 0, options: SimOptions = SimOptions(),
                 cost_options: CostOptions = CostOptions()):
        missing = trace.missing_models()
        if missing:
            raise UserError(f"trace {excerpt(trace.name)}: stream(s) {', '.join(missing)} name no "
                            "language model; pass one (--model)")
        if not (isinstance(duration_s, (int, float)) and math.isfinite(duration_s)
                and duration_s > 0):
            raise UserError(f"duration must be a finite number of seconds > 0, "
                            f"got {excerpt(duration_s)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"seed must be an integer >= 0, got {excerpt(seed)}")
        lat = chip.phase.reconfiguration_latency_s
        if not (math.isfinite(lat) and lat >= 0):
            raise UserError(f"{chip.name}: reconfiguration latency must be a finite time >= 0, "
                            f"got {excerpt(lat)}")
        self.chip, self.trace, self.precision = chip, trace, precision
        self.duration_s, self.seed = float(duration_s), int(seed)
        self.options, self.cost_options = options, cost_options
        self.env = simpy.Environment()
        self.layout = PhaseLayout(chip.phase)
        self.full = ChipParams.from_chip(chip, ideal=cost_options.ideal_chip)
        self.config = self.layout.initial
        self.slots = [Slot(self.env, i, n, self.layout.shares(i, self.config))
                      for i, n in enumerate(self.layout.slot_names)]
        self.active = {"prefill": 0, "decode": 0}
        # Requests in flight per phase class and stream priority (priority reconfiguration).
        self._prio: dict[str, dict[int, int]] = {"prefill": {}, "decode": {}}
        # Slots the reconfiguration controller holds shut (a "-first" configuration at share 1).
        self._blocked: dict[int, object] = {}
        self._reconfiguring = False
        self.names = OpNames()
        frames = self._frame_counts()
        segments = [request_segments(s.request, precision) for s in trace.streams]
        self._check_operator_count(frames, segments)
        self.work = [self._stream_work(s, seg) for s, seg in zip(trace.streams, segments)]
        self.kv = KVStore(self.env, int(float(self.full.kv_capacity_bytes)),
                          self._kv_dram_budget(), options.kv_overflow)
        self._check_kv_fits()
        self._plans: dict[tuple, tuple[StagePlan, int]] = {}
        self.plans: list[StagePlan] = []  # every distinct plan, indexed by the batch log
        self.batches = BatchLog()
        self.reconfigs: list[tuple[float, float, str]] = []
        self.requests = self._make_requests()
        self.n_operators = sum(self._ops_per_request(r) for r in self.requests)

    # -- setup ---------------------------------------------------------------------------
    def _frame_counts(self) -> list[int]:
        """Frames per stream in [0, duration); every stream needs at least one."""
        d = self.duration_s
        counts = []
        for s in self.trace.streams:
            try:
                n = s.frame_count(d)
            except ValueError as exc:
                raise UserError(f"trace {excerpt(self.trace.name)}: {exc}; shorten the duration") \
                    from None
            if n == 0:
                raise UserError(
                    f"trace {self.trace.name!r}: no request of stream {s.name!r} arrives in "
                    f"[0, {d:g} s) (first frame at {s.offset_s:g} s, then every "
                    f"{s.period_s:g} s); lengthen the duration or lower the stream's offset")
            counts.append(n)
        return counts

    @staticmethod
    def _count(n: int) -> str:
        return f"{n:,}" if n < 10**12 else f"{float(n):.3g}"

    def _check_operator_count(self, frames: list[int],
                              segments: list[tuple[list[Segment], list[Segment]]]) -> None:
        """Refuse a run whose event log would not fit in memory, before building it."""
        per = [sum(g.n_ops for g in pre + dec) for pre, dec in segments]
        c = self._count
        one = self.options.max_request_operators
        for s, k in zip(self.trace.streams, per):
            if k > one:
                raise UserError(
                    f"trace {self.trace.name!r}: a request of stream {excerpt(s.name)} has "
                    f"{k:,} operators ({s.request.prefill_tokens:,} prompt, "
                    f"{s.request.action_tokens:,} action tokens), more than the limit of "
                    f"{one:,} per request (its costs are held in memory, "
                    f"~{one * BYTES_PER_PLAN_OPERATOR / 1e9:.2g} GB at the limit): use fewer "
                    "tokens or cameras (or raise --max-request-operators)")
        total = sum(n * k for n, k in zip(frames, per))
        limit = self.options.max_operators
        if total <= limit:
            return
        big = max(range(len(per)), key=lambda i: frames[i] * per[i])
        s = self.trace.streams[big]
        raise UserError(
            f"trace {self.trace.name!r}: {c(total)} operators to simulate exceed the limit of "
            f"{limit:,}; stream "
            f"{excerpt(s.name)} alone has {c(frames[big])} frames x {per[big]:,} operators "
            f"({s.request.prefill_tokens:,} prompt, {s.request.action_tokens:,} action tokens): "
            "shorten the duration (--duration) or use fewer tokens, cameras or a lower rate "
            "(or raise --max-operators)")

    def _stream_work(self, s: Stream,
                     segments: tuple[list[Segment], list[Segment]]) -> _StreamWork:
        stages = build_stages(s.request, self.precision, self.names, segments)
        need = int(np.ceil(request_kv_bytes(s.request, self.precision)))
        return _StreamWork(s, stages, need)

    def _kv_dram_budget(self) -> int:
        """DRAM left for KV caches: capacity - every model's weights - the activation
        workspace of the largest pass on each slot."""
        p = self.precision
        weights: dict[str, float] = {}
        workspace = 0.0
        for w in self.work:
            req = w.stream.request
            if req.vision is not None:
                v = req.vision
                for enc in v.encoders:
                    a = ArchArrays.from_model(enc)
                    weights[enc.name] = float(weights_total_bytes(a, p))
                    workspace = max(workspace, float(activation_workspace_bytes(
                        a, p, v.cameras, v.encoder_tokens)))
            if req.language is not None:
                gen = req.language.generation
                helpers = [x for x in (gen.flow and gen.flow.expert,
                                       gen.speculative and gen.speculative.draft) if x]
                for m in (req.language.model, *helpers):
                    a = ArchArrays.from_model(m)
                    weights[m.name] = float(weights_total_bytes(a, p))
                    workspace = max(workspace, float(activation_workspace_bytes(
                        a, p, 1, req.prefill_tokens)))
        cap = float(self.full.dram_capacity_bytes)
        need = sum(weights.values()) + workspace * len(self.slots)
        if need >= cap:
            raise UserError(f"{self.chip.name}: weights ({', '.join(weights)}) and activations "
                            f"need {need / 1e9:.3g} GB but DRAM holds {cap / 1e9:.3g} GB")
        return int(cap - need)

    def _check_kv_fits(self) -> None:
        for w in self.work:
            if w.kv_need_bytes > self.kv.dram_capacity_bytes + self.kv.sram_capacity_bytes:
                raise UserError(f"stream {excerpt(w.stream.name)}: its KV cache "
                                f"({w.kv_need_bytes / 1e9:.3g} GB) does not fit in memory")
            if (self.options.kv_overflow == "wait" and self.kv.sram is not None
                    and w.kv_need_bytes > self.kv.sram_capacity_bytes):
                raise UserError(f"stream {w.stream.name!r}: its KV cache ({w.kv_need_bytes:,} B) "
                                f"exceeds the KV SRAM ({self.kv.sram_capacity_bytes:,} B) and "
                                "kv_overflow='wait' would wait for ever; use 'spill'")

    def _key(self, s: Stream, rid: int, arrival: float) -> tuple:
        pol = self.options.policy
        if pol == "priority":
            return (s.priority, arrival, rid)
        if pol == "fifo":
            return (arrival, rid)
        if pol == "edf":
            return (arrival + s.deadline_s, rid)
        return (s.priority,)

    def _make_requests(self) -> list[Request]:
        times = self.trace.arrivals(self.duration_s, self.seed)
        rows = sorted((float(t), si) for si, ts in enumerate(times) for t in ts)
        out = []
        for rid, (t, si) in enumerate(rows):
            s = self.work[si].stream
            out.append(Request(rid, si, t, s.deadline_s, self._key(s, rid, t),
                               self.work[si].kv_need_bytes))
        return out

    def _ops_per_request(self, r: Request) -> int:
        return sum(st.n_ops for st in self.work[r.stream].stages)

    # -- plans ---------------------------------------------------------------------------
    def plan(self, r: Request, stage_index: int, slot: Slot) -> tuple[StagePlan, int]:
        """Costs of a request's stage on the slot's current shares (cached), and the plan's
        index in :attr:`plans`."""
        w = self.work[r.stream]
        kv = r.kv_sram_bytes if w.kv_need_bytes else None
        key = (r.stream, stage_index, slot.shares, kv)
        found = self._plans.get(key)
        if found is None:
            params = partition_params(self.full, slot.shares)
            plan = cost_stage(w.stages[stage_index], self.full, params, slot.shares, kv,
                              self.cost_options)
            found = self._plans[key] = (plan, len(self.plans))
            self.plans.append(plan)
        return found

    # -- processes -----------------------------------------------------------------------
    def _set_activity(self, leave: str | None, enter: str | None, priority: int = 0) -> None:
        for cls, d in ((leave, -1), (enter, 1)):
            if cls:
                self.active[cls] += d
                self._prio[cls][priority] = self._prio[cls].get(priority, 0) + d
        if (self.layout.mode == PhaseMode.RECONFIGURABLE and not self._reconfiguring
                and self._desired() != self.config):
            self._reconfiguring = True
            # Requested synchronously, so they queue ahead of the caller's own request.
            self.env.process(self._reconfigure(self._control_requests()))

    def _desired(self) -> str:
        """Configuration the chip wants for the requests in flight (see the module
        docstring for the policies)."""
        base = self.layout.desired(self.active, self.config)
        if base != "split" or self.options.reconfig_policy != "priority":
            return base
        top = {c: min(p for p, n in self._prio[c].items() if n > 0) for c in self._prio}
        if top["prefill"] == top["decode"]:
            return "split"
        return "prefill-first" if top["prefill"] < top["decode"] else "decode-first"

    def _shares(self, slot: int, config: str) -> Shares | None:
        """Shares of ``slot`` in ``config``; None where the slot is held shut."""
        if not config.endswith("-first"):
            return self.layout.shares(slot, config)
        q = float(self.options.priority_share)
        if slot == self.layout.slot_of[config[:-len("-first")]]:
            return FULL if q >= 1.0 else Shares(q, q, q)
        return None if q >= 1.0 else Shares(1.0 - q, 1.0 - q, 1.0 - q)

    def _control_requests(self) -> list:
        """The controller's request on every slot (a slot it holds shut is already its)."""
        return [self._blocked.pop(s.index) if s.index in self._blocked
                else s.request(CONTROL_PRIORITY) for s in self.slots]

    def _reconfigure(self, reqs):
        env, lat = self.env, self.chip.phase.reconfiguration_latency_s
        while True:
            yield env.all_of(reqs)
            target = self._desired()
            if target != self.config:
                t0 = env.now
                if lat > 0:
                    yield env.timeout(lat)
                self.config = target
                for s in self.slots:
                    shares = self._shares(s.index, target)
                    if shares is not None:
                        s.shares = shares
                self.reconfigs.append((t0, env.now, target))
            for s, q in zip(self.slots, reqs):
                if self._shares(s.index, self.config) is None:
                    self._blocked[s.index] = q  # held shut until the next configuration
                else:
                    s.release(q)
            if self._desired() == self.config:
                break
            reqs = self._control_requests()
        self._reconfiguring = False

    def _source(self):
        env = self.env
        for r in self.requests:
            if r.arrival_s > env.now:
                yield env.timeout(r.arrival_s - env.now)
            env.process(self._request(r))

    def _request(self, r: Request):
        env = self.env
        w = self.work[r.stream]
        if w.kv_need_bytes > 0:
            r.kv_sram_bytes, r.kv_dram_bytes = yield from self.kv.acquire(w.kv_need_bytes)
        r.admitted_s = env.now
        held, held_slot, prev = None, None, None
        prio = w.stream.priority
        for si, stage in enumerate(w.stages):
            slot = self.slots[self.layout.slot_of[stage.cls]]
            if held is not None and held_slot is not slot:
                held_slot.release(held)
                held = None
            self._set_activity(prev, stage.cls, prio)
            if held is None:
                held = slot.request(r.key)
                yield held
                held_slot = slot
            elif slot.should_yield(r.key):
                slot.release(held)
                held = slot.request(r.key)
                yield held
            held = yield from self._stage(r, si, slot, held)
            prev = stage.cls
        if held is not None:
            held_slot.release(held)
        self._set_activity(prev, None, prio)
        if w.kv_need_bytes > 0:
            self.kv.release(r.kv_sram_bytes, r.kv_dram_bytes)
        r.end_s = env.now

    def _stage(self, r: Request, si: int, slot: Slot, held):
        """Run stage ``si`` of ``r`` on ``slot`` (held on entry and on return)."""
        env = self.env
        i = 0
        n = self.work[r.stream].stages[si].n_ops
        while i < n:
            plan, pi = self.plan(r, si, slot)
            cum = plan.cum_s
            base = float(cum[i - 1]) if i else 0.0
            t0 = env.now
            if slot.should_yield(r.key):
                # Someone is already due at the next boundary: run one operator only.
                k = i
                yield env.timeout(float(cum[k]) - base)
            else:
                slot.wake = wake = env.event()
                timer = env.timeout(float(cum[-1]) - base)
                done = yield timer | wake
                slot.wake = None
                if timer in done:
                    k = n - 1
                else:
                    # Woken: finish the operator in progress (or the one ending right now).
                    elapsed = env.now - t0
                    k = int(np.searchsorted(cum, base + elapsed, side="left"))
                    k = min(max(k, i), n - 1)
                    rest = float(cum[k]) - base - elapsed
                    if rest > 0:
                        yield env.timeout(rest)
            self.batches.append(r.id, pi, i, k + 1, t0, slot.index, base)
            i = k + 1
            if i < n and slot.should_yield(r.key):
                slot.release(held)
                held = slot.request(r.key)
                yield held
        return held

    # -- run -----------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Run until every request has finished. ``progress(fraction)`` is called as the
        simulated clock passes the trace duration, and with 1.0 at the end."""
        env = self.env
        env.process(self._source())
        if progress is not None:
            steps = 100
            for k in range(1, steps + 1):
                env.run(until=self.duration_s * k / steps)
                progress(0.99 * k / steps)
        env.run()
        if progress is not None:
            progress(1.0)
        unfinished = [r.id for r in self.requests if not np.isfinite(r.end_s)]
        if unfinished:
            raise RuntimeError(f"simulation ended with {len(unfinished)} unfinished requests")
