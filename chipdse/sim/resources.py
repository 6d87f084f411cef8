"""Simulated chip resources: execution slots per phase-resource mode, and the KV-cache store.
Which slot a phase uses and the shares of each slot are :class:`chipdse.accounting.PhaseLayout`'s.

Phase classes: the vision encoder and the prefill are compute-heavy passes over many tokens
(class ``"prefill"``); decode steps are bandwidth-heavy (class ``"decode"``).

* ``fixed``: one slot, the whole chip; kernels of every stream and phase queue for it.
* ``static``: two slots, each a fixed partition: the prefill slot owns
  ``prefill_compute_share`` of the matrix and vector engines (and of the static power),
  ``prefill_bandwidth_share`` of the DRAM and KV-SRAM bandwidth and ``prefill_sram_share`` of
  the shared / local SRAM (capacity, pinnable capacity and bandwidth: SRAM banks are split with
  their ports); the decode slot owns the rest.
* ``reconfigurable``: the same two slots, but their shares follow the active phase classes:
  while only one class has requests in flight its slot gets the whole chip; while both do they
  split as in ``static``. Changing the split waits for the running kernels to finish, then
  stalls both slots for ``reconfiguration_latency_s``.

The dedicated KV SRAM is never split: it holds the caches that prefill writes and decode reads.
Its capacity is a SimPy Container shared by all requests (see :class:`KVStore`).
"""

from __future__ import annotations

import simpy

from chipdse.accounting import Shares

__all__ = ["Slot", "KVStore", "CONTROL_PRIORITY"]

# Priority of the reconfiguration controller's slot requests: ahead of every kernel.
CONTROL_PRIORITY = (float("-inf"),)


class Slot:
    """One execution slot: a SimPy PriorityResource of capacity 1 plus its current shares.

    The holder of a slot runs its operators in batches; a request joining the queue wakes it so
    that it can stop at the next operator boundary and let a more urgent kernel in.
    """

    def __init__(self, env: simpy.Environment, index: int, name: str, shares: Shares):
        self.env = env
        self.index = index
        self.name = name
        self.shares = shares
        self.resource = simpy.PriorityResource(env, capacity=1)
        self.wake: simpy.Event | None = None

    def request(self, priority: tuple) -> simpy.resources.resource.PriorityRequest:
        req = self.resource.request(priority=priority)
        if not req.triggered and self.wake is not None and not self.wake.triggered:
            self.wake.succeed()
        return req

    def release(self, req) -> None:
        self.resource.release(req)

    def should_yield(self, priority: tuple) -> bool:
        """Would a waiting request be served before this holder if it asked again now?"""
        q = self.resource.queue
        return bool(q) and q[0].key <= (priority, self.env.now, False)


class KVStore:
    """KV-cache capacity: the dedicated KV SRAM and the DRAM left after weights.

    Amounts are whole bytes (integers), so releases restore the levels exactly. A request asks
    for its whole cache (prompt + generated tokens) before its first operator and returns it
    after its last. ``overflow="spill"``: it takes what is free in KV SRAM and the rest from
    DRAM (the cost function then streams that part from DRAM); ``"wait"``: it waits until the
    whole cache fits in KV SRAM. DRAM requests wait in FIFO order when DRAM is full.
    """

    def __init__(self, env: simpy.Environment, sram_bytes: int, dram_bytes: int,
                 overflow: str = "spill"):
        self.env = env
        self.overflow = overflow
        self.sram_capacity_bytes = int(sram_bytes)
        self.dram_capacity_bytes = int(dram_bytes)
        cap = self.sram_capacity_bytes
        self.sram = simpy.Container(env, capacity=cap, init=cap) if cap > 0 else None
        self.dram = simpy.Container(env, capacity=max(self.dram_capacity_bytes, 1),
                                    init=max(self.dram_capacity_bytes, 1))
        self.history: list[tuple[float, int, int]] = [(0.0, 0, 0)]

    def _record(self) -> None:
        used_s = self.sram_capacity_bytes - self.sram.level if self.sram is not None else 0
        used_d = max(self.dram_capacity_bytes, 1) - self.dram.level
        self.history.append((self.env.now, int(used_s), int(used_d)))

    def acquire(self, need: int):
        """Generator (``yield from``): returns (bytes in KV SRAM, bytes in DRAM)."""
        take = 0
        if self.sram is not None and need > 0:
            if self.overflow == "wait":
                yield self.sram.get(need)
                self._record()
                return need, 0
            take = min(need, int(self.sram.level))
            if take > 0:
                yield self.sram.get(take)
        rest = need - take
        if rest > 0:
            yield self.dram.get(rest)
        self._record()
        return take, rest

    def release(self, sram: int, dram: int) -> None:
        if sram > 0:
            self.sram.put(sram)
        if dram > 0:
            self.dram.put(dram)
        self._record()
