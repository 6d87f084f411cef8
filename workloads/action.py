"""How a VLA request turns its language model's context into actions, and how they are used.

Four action-generation modes (:data:`MODES`):

* ``autoregressive``: the language model decodes ``action_tokens`` tokens one step at a time
  (OpenVLA's shape: 7 tokens per 7-DoF action);
* ``parallel``: all ``action_tokens`` tokens in one forward pass over the language model after
  the prefill (OpenVLA-OFT's parallel decoding), the LM head on every token;
* ``flow``: an action expert - a transformer of its own shape that reads the language model's
  KV cache layer by layer (pi0's shared-attention design) - runs ``steps`` flow-matching (or
  diffusion denoising) steps over a chunk of ``actions`` action tokens plus ``state_tokens``
  proprioceptive tokens; the language model may first decode ``action_tokens`` tokens (a
  reasoning trace, as Alpamayo-R1 does; 0 for pi0). Small linear projections carry actions in
  and out (:func:`projection_operators`);
* ``speculative``: a draft model of its own shape proposes ``draft_tokens`` tokens one step at
  a time, the language model verifies them in one pass; per-token acceptance rate ``alpha``
  gives ``(1 - alpha^(k+1)) / (1 - alpha)`` tokens per round (Leviathan et al.,
  arXiv 2211.17192, Sec. 3.1), and a request of N tokens runs ``ceil(N / that)`` rounds
  (deterministic: every request runs its expected number of rounds, rounded up).

:class:`Chunking` states how the actions are executed: each request yields a chunk whose first
``execute`` actions play out at ``control_rate_hz``; with ``overlap`` (asynchronous inference)
the next chunk is computed while the current one executes and replaces it when ready, so the
real-time constraint is that a fresh chunk is ready before the current one runs out; without
overlap the robot waits for every chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microarch.excerpt import excerpt
from microarch.formats import get_format
from workloads.model import ModelArch
from workloads.ops import Op
from workloads.precision import Precision

__all__ = ["MODES", "FlowHead", "Speculative", "ActionGeneration", "Chunking",
           "AUTOREGRESSIVE", "projection_operators", "projection_weight_bytes",
           "check_expert"]

MODES = ("autoregressive", "parallel", "flow", "speculative")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _int(x: object, lo: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= lo


@dataclass(frozen=True)
class FlowHead:
    """An action expert run ``steps`` times over the action chunk (flow matching or diffusion).

    Attributes:
        expert: the expert's transformer (causal, ``vocab_size`` 0: actions enter and leave
            through linear projections, not a token embedding).
        steps: integration (denoising) steps per request.
        action_dim: width of one action vector (the projections' narrow side).
        state_tokens: proprioceptive-state tokens processed with the actions (pi0: 1).
        time_mlp: the flow time step is mixed into each action token by a two-layer MLP
            (pi0's action-time MLP, 2 d -> d -> d); False: added as a bias.
    """

    expert: ModelArch
    steps: int
    action_dim: int
    state_tokens: int = 0
    time_mlp: bool = True

    def __post_init__(self) -> None:
        _check(_int(self.steps, 1), f"FlowHead.steps must be an integer >= 1, got "
               f"{excerpt(self.steps)}")
        _check(_int(self.action_dim, 1), f"FlowHead.action_dim must be an integer >= 1, got "
               f"{excerpt(self.action_dim)}")
        _check(_int(self.state_tokens, 0), f"FlowHead.state_tokens must be an integer >= 0, "
               f"got {excerpt(self.state_tokens)}")
        _check(self.expert.causal, f"FlowHead.expert {self.expert.name!r} must be a decoder "
               "stack (causal: true) that attends to the language model's KV cache")


@dataclass(frozen=True)
class Speculative:
    """Draft-and-verify decoding of the action tokens.

    Attributes:
        draft: the draft model (a causal decoder with its own KV cache and prefill).
        draft_tokens: tokens the draft proposes per round (k).
        acceptance: probability that the target accepts each drafted token (alpha, in [0, 1]).
    """

    draft: ModelArch
    draft_tokens: int
    acceptance: float

    def __post_init__(self) -> None:
        _check(_int(self.draft_tokens, 1), f"Speculative.draft_tokens must be an integer >= 1, "
               f"got {excerpt(self.draft_tokens)}")
        a = self.acceptance
        _check(isinstance(a, (int, float)) and not isinstance(a, bool) and 0.0 <= a <= 1.0,
               f"Speculative.acceptance must be in [0, 1], got {excerpt(a)}")
        _check(self.draft.causal, f"Speculative.draft {self.draft.name!r} must be a causal "
               "decoder")

    @property
    def tokens_per_round(self) -> float:
        """Expected tokens a round yields: accepted drafts plus the target's own token."""
        a, k = float(self.acceptance), self.draft_tokens
        return float(k + 1) if a >= 1.0 else (1.0 - a ** (k + 1)) / (1.0 - a)

    def rounds(self, tokens: int) -> int:
        """Rounds needed for ``tokens`` tokens (the expectation, rounded up; 0 for none)."""
        if tokens <= 0:
            return 0
        # A hair below an integer ratio is float noise, not a fraction of a round.
        return max(1, math.ceil(tokens / self.tokens_per_round - 1e-9))


@dataclass(frozen=True)
class ActionGeneration:
    """How a request's actions are generated.

    Attributes:
        mode: one of :data:`MODES`.
        actions: actions per request (the chunk length H; the energy per action divides by
            it). For the token modes, the tokens of the chunk are the language model's
            ``action_tokens``.
        flow: the action expert (mode ``flow`` only).
        speculative: the draft (mode ``speculative`` only).
    """

    mode: str = "autoregressive"
    actions: int = 1
    flow: FlowHead | None = None
    speculative: Speculative | None = None

    def __post_init__(self) -> None:
        _check(self.mode in MODES, f"ActionGeneration.mode must be one of {', '.join(MODES)}, "
               f"got {excerpt(self.mode)}")
        _check(_int(self.actions, 1), f"ActionGeneration.actions must be an integer >= 1, got "
               f"{excerpt(self.actions)}")
        _check((self.flow is not None) == (self.mode == "flow"),
               "ActionGeneration: a flow head is given with mode 'flow' and only then")
        _check((self.speculative is not None) == (self.mode == "speculative"),
               "ActionGeneration: a draft is given with mode 'speculative' and only then")


AUTOREGRESSIVE = ActionGeneration()


@dataclass(frozen=True)
class Chunking:
    """How each request's chunk of actions is executed.

    Attributes:
        execute: actions of each chunk executed before the next chunk is needed.
        control_rate_hz: actions executed per second.
        overlap: the next chunk is computed while the current one executes (asynchronous
            inference); False: the robot waits while each chunk is computed.
    """

    execute: int
    control_rate_hz: float
    overlap: bool = True

    def __post_init__(self) -> None:
        _check(_int(self.execute, 1), f"Chunking.execute must be an integer >= 1, got "
               f"{excerpt(self.execute)}")
        r = self.control_rate_hz
        _check(isinstance(r, (int, float)) and math.isfinite(r) and r > 0,
               f"Chunking.control_rate_hz must be > 0, got {excerpt(r)}")

    @property
    def execute_s(self) -> float:
        """Time one chunk's executed actions last."""
        return self.execute / float(self.control_rate_hz)


def check_expert(expert: ModelArch, model: ModelArch) -> None:
    """Refuse an expert that cannot read ``model``'s KV cache layer by layer (same layer count
    and key/value width)."""
    _check(expert.n_layers == model.n_layers,
           f"action expert {expert.name!r} has {expert.n_layers} layers but reads the KV cache "
           f"of {model.name!r} layer by layer, which has {model.n_layers}")
    dkv = lambda m: m.n_kv_heads * m.head_dim  # noqa: E731
    _check(dkv(expert) == dkv(model),
           f"action expert {expert.name!r} has key/value width {dkv(expert)} "
           f"({expert.n_kv_heads} x {expert.head_dim}) but {model.name!r} caches "
           f"{dkv(model)} ({model.n_kv_heads} x {model.head_dim})")


# Action projections are kept in FP16: they are tiny and their widths (e.g. 32 or 2) are not
# multiples of 16, so quantising toolchains leave them unquantised (NVIDIA Model-Optimizer,
# examples/alpamayo/README.md: "small action-projection heads ... are left unquantized").
_PROJ_FMT = "fp16"


def _proj_shapes(flow: FlowHead, actions: int) -> list[tuple[str, int, int, int]]:
    d, a = flow.expert.d_model, flow.action_dim
    shapes = [("action_in_proj", actions, a, d)]
    if flow.state_tokens:
        shapes.append(("state_proj", flow.state_tokens, a, d))
    if flow.time_mlp:
        shapes += [("time_mlp_in", actions, 2 * d, d), ("time_mlp_out", actions, d, d)]
    shapes.append(("action_out_proj", actions, d, a))
    return shapes


def projection_weight_bytes(flow: FlowHead) -> float:
    """Bytes of the flow head's projection weights (FP16)."""
    b = get_format(_PROJ_FMT).bytes_per_element
    return float(sum(k * n for _, _, k, n in _proj_shapes(flow, 1)) * b)


def projection_operators(flow: FlowHead, p: Precision, actions: int) -> list[Op]:
    """Operators of one flow step outside the expert's layers: actions (and the state) in,
    the time MLP, velocities out (once per step, not per layer)."""
    bs = max(p.a.bytes_per_element, get_format("fp16").bytes_per_element)
    bw = get_format(_PROJ_FMT).bytes_per_element
    fmt = p.gemm_format(_PROJ_FMT)
    ops = []
    for name, m, k, n in _proj_shapes(flow, actions):
        ops.append(Op(name=name, engine="matrix", kind="gemm", count=1.0, fmt=fmt,
                      flops=2.0 * m * k * n, weight_bytes=k * n * bw, weight_elements=k * n,
                      gemm_m=m, gemm_n=n, gemm_k=k, act_in_bytes=m * k * bs,
                      act_out_bytes=m * n * bs, weight_only=p.weight_only(_PROJ_FMT),
                      layer_op=False))
        if name == "time_mlp_in":  # swish between the two layers
            ops.append(Op(name="time_mlp_act", engine="vector", kind="nonlinear", count=1.0,
                          vector_ops=m * n * 3.0, sfu_ops=m * n, act_in_bytes=m * n * bs,
                          act_out_bytes=m * n * bs, layer_op=False))
    return ops
