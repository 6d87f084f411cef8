"""Traces: streams of VLA (vision-language-action) requests arriving over time.

A request is a vision encoder over N cameras, a prefill over the vision and text tokens, and a
decode of K action tokens; either half may be absent (a perception stream runs only the encoder,
a text planner only the language model). A stream issues such requests periodically at a control
rate with optional jitter and gives each a deadline. A trace is one or more streams sharing a
chip for a duration.

Token counts:

* the encoder sees ``(image_size // patch_size)^2`` patch tokens per image, plus one class
  token when ``class_token`` is set (CLIP keeps one; SigLIP has none and pools by attention);
* the language model sees, per camera, ``tokens_per_camera`` tokens when given (what a projector
  or token compressor leaves), else the patch tokens (the class token is dropped, as LLaVA-style
  projectors do); the prefill is those tokens for all cameras plus ``text_tokens``, unless
  ``prompt_tokens`` fixes the whole prefill length (as the driving workload of
  arXiv 2602.10377 does: 1024 tokens); that length contains the vision tokens, so it may not
  be smaller than them (set ``tokens_per_camera`` when a projector compresses the patches).

Arrival times: frame ``i`` of a stream is captured at ``offset + i / rate`` and issued after a
delay drawn uniformly from ``[0, jitter]`` (transport and pre-processing jitter; a frame is
never early), so frames stay in order because ``jitter`` must be below one period. Random draws
use a numpy Generator seeded from ``(seed, stream index)``.

Trace files are YAML read strictly (:class:`microarch.schema.Reader`): unknown keys, quantities
without a unit or of the wrong dimension, unknown models and impossible values are reported
together, one line each, naming the file and field path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from microarch.schema import Reader, SpecError, excerpt, load_yaml
from workloads.action import (
    AUTOREGRESSIVE,
    MODES,
    ActionGeneration,
    Chunking,
    FlowHead,
    Speculative,
    check_expert,
)
from workloads.loader import load_model
from workloads.model import ModelArch

__all__ = ["Vision", "Language", "VLARequest", "Stream", "Trace", "load_trace", "list_traces",
           "trace_from_dict"]


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True)
class Vision:
    """The vision half of a request: one encoder pass over a batch of camera images.

    Attributes:
        encoder: the vision transformer (a :class:`ModelArch` with ``causal=False``).
        cameras: images per request (run as one batch).
        image_size: image side in pixels (square images).
        patch_size: patch side in pixels.
        class_token: the encoder prepends one class token.
        tokens_per_camera: tokens per camera handed to the language model (after a projector
            or compressor); None = the patch tokens.
        extra_encoders: further towers that see the same images and whose features are fused
            with the first's (OpenVLA's DINOv2 + SigLIP); each runs as its own batched pass.
    """

    encoder: ModelArch
    cameras: int
    image_size: int
    patch_size: int
    class_token: bool = False
    tokens_per_camera: int | None = None
    extra_encoders: tuple[ModelArch, ...] = ()

    def __post_init__(self) -> None:
        _check(isinstance(self.cameras, int) and self.cameras >= 1,
               f"Vision.cameras must be an integer >= 1, got {excerpt(self.cameras)}")
        _check(isinstance(self.patch_size, int) and self.patch_size >= 1,
               f"Vision.patch_size must be an integer >= 1, got {excerpt(self.patch_size)}")
        _check(isinstance(self.image_size, int) and self.image_size >= self.patch_size,
               f"Vision.image_size must be an integer >= patch_size ({self.patch_size}), "
               f"got {excerpt(self.image_size)}")
        _check(self.tokens_per_camera is None
               or (isinstance(self.tokens_per_camera, int) and self.tokens_per_camera >= 1),
               f"Vision.tokens_per_camera must be an integer >= 1, got "
               f"{excerpt(self.tokens_per_camera)}")
        object.__setattr__(self, "extra_encoders", tuple(self.extra_encoders))
        _check(all(not e.causal for e in self.encoders),
               "Vision encoders must be bidirectional (causal: false)")

    @property
    def encoders(self) -> tuple[ModelArch, ...]:
        """Every tower, the first one first."""
        return (self.encoder, *self.extra_encoders)

    @property
    def patches_per_camera(self) -> int:
        """Patch tokens per image, floor(image_size / patch_size)^2 (a partial border patch is
        cropped, as a stride-``patch`` convolution does)."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def encoder_tokens(self) -> int:
        """Sequence length of one image in the encoder (patches + class token)."""
        return self.patches_per_camera + int(self.class_token)

    @property
    def llm_tokens_per_camera(self) -> int:
        """Tokens per camera in the language model's prefill."""
        return self.tokens_per_camera or self.patches_per_camera


@dataclass(frozen=True)
class Language:
    """The language half of a request: a prefill and the generation of the actions.

    Attributes:
        model: the decoder; None = the model passed to the simulator.
        action_tokens: tokens the language model generates (decode steps when
            autoregressive; the tokens of the one pass when parallel; reasoning tokens
            decoded before the action expert runs with a flow head).
        prompt_tokens: the whole prefill length; None = vision tokens + ``text_tokens``.
        text_tokens: text prompt tokens added to the vision tokens.
        generation: how the actions are generated (:mod:`workloads.action`).
    """

    model: ModelArch | None
    action_tokens: int
    prompt_tokens: int | None = None
    text_tokens: int = 0
    generation: ActionGeneration = AUTOREGRESSIVE

    def __post_init__(self) -> None:
        _check(isinstance(self.action_tokens, int) and self.action_tokens >= 0,
               f"Language.action_tokens must be an integer >= 0, got {excerpt(self.action_tokens)}")
        _check(self.prompt_tokens is None
               or (isinstance(self.prompt_tokens, int) and self.prompt_tokens >= 1),
               f"Language.prompt_tokens must be an integer >= 1, got {excerpt(self.prompt_tokens)}")
        _check(isinstance(self.text_tokens, int) and self.text_tokens >= 0,
               f"Language.text_tokens must be an integer >= 0, got {excerpt(self.text_tokens)}")
        _check(self.model is None or self.model.causal,
               f"Language.model must be a causal decoder, {self.model and self.model.name!r} "
               "is an encoder")
        g = self.generation
        _check(isinstance(g, ActionGeneration),
               f"Language.generation must be an ActionGeneration, got {excerpt(g)}")
        _check(g.mode not in ("parallel", "speculative") or self.action_tokens >= 1,
               f"Language.action_tokens must be >= 1 for {g.mode} generation")
        if g.flow is not None and self.model is not None:
            check_expert(g.flow.expert, self.model)


@dataclass(frozen=True)
class VLARequest:
    """What one request runs: a vision encoder, a language model, or both."""

    vision: Vision | None = None
    language: Language | None = None

    def __post_init__(self) -> None:
        _check(self.vision is not None or self.language is not None,
               "VLARequest needs vision, language or both")
        if self.language is not None and self.language.prompt_tokens is None:
            _check(self.prefill_tokens >= 1,
                   "VLARequest: the prefill is empty (no vision, text_tokens 0, no prompt_tokens)")
        if self.language is not None and self.language.prompt_tokens is not None:
            _check(self.language.prompt_tokens >= self.vision_tokens,
                   f"VLARequest: prompt_tokens {self.language.prompt_tokens} is fewer than the "
                   f"{self.vision_tokens} vision tokens the prefill must contain "
                   f"({self.vision.cameras if self.vision else 0} cameras x "
                   f"{self.vision.llm_tokens_per_camera if self.vision else 0}); raise "
                   "prompt_tokens or set the vision tokens_per_camera")

    @property
    def vision_tokens(self) -> int:
        """Vision tokens handed to the language model (all cameras; 0 without vision)."""
        return self.vision.cameras * self.vision.llm_tokens_per_camera if self.vision else 0

    @property
    def prefill_tokens(self) -> int:
        """Prefill length of the language model (0 without one)."""
        if self.language is None:
            return 0
        if self.language.prompt_tokens is not None:
            return self.language.prompt_tokens
        return self.vision_tokens + self.language.text_tokens

    @property
    def action_tokens(self) -> int:
        return self.language.action_tokens if self.language else 0

    @property
    def generation(self) -> ActionGeneration:
        """How the actions are generated (autoregressive without a language model)."""
        return self.language.generation if self.language else AUTOREGRESSIVE

    @property
    def actions(self) -> int:
        """Actions one request yields (0 without a language model)."""
        return self.generation.actions if self.language else 0


@dataclass(frozen=True)
class Stream:
    """A periodic source of requests.

    Attributes:
        name: label (unique in the trace).
        request: what each request runs.
        rate_hz: control rate (frames per second).
        deadline_s: latency budget of each request, from its arrival to its last operator.
        jitter_s: arrival delay drawn uniformly from [0, jitter_s]; below one period.
        offset_s: capture time of the first frame.
        priority: lower is more urgent (used by the "priority" scheduling policy).
        chunking: how each request's actions are executed (None: not stated; the
            simulator then checks only the deadline).
    """

    name: str
    request: VLARequest
    rate_hz: float
    deadline_s: float
    jitter_s: float = 0.0
    offset_s: float = 0.0
    priority: int = 0
    chunking: Chunking | None = None

    def __post_init__(self) -> None:
        _check(bool(self.name), "Stream.name must not be empty")
        _check(self.chunking is None or self.request.language is not None,
               f"Stream {self.name!r}: chunking needs a language section (actions)")
        _check(self.chunking is None or self.chunking.execute <= self.request.actions,
               f"Stream {self.name!r}: chunking.execute "
               f"{self.chunking.execute if self.chunking else 0} exceeds the "
               f"{self.request.actions} actions each request yields")
        _check(math.isfinite(self.rate_hz) and self.rate_hz > 0,
               f"Stream.rate_hz must be > 0, got {excerpt(self.rate_hz)}")
        _check(self.deadline_s > 0, f"Stream.deadline_s must be > 0, got {self.deadline_s!r}")
        _check(0 <= self.jitter_s < self.period_s,
               f"Stream.jitter_s must be in [0, period = {self.period_s:g} s), "
               f"got {excerpt(self.jitter_s)}")
        _check(self.offset_s >= 0, f"Stream.offset_s must be >= 0, got {excerpt(self.offset_s)}")

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz

    def frame_count(self, duration_s: float) -> int:
        """Number of frames captured in [0, duration_s) (independent of the jitter); raises
        ValueError for a duration that is not a finite number > 0."""
        _check(math.isfinite(duration_s) and duration_s > 0,
               f"duration must be a finite number of seconds > 0, got {excerpt(duration_s)}")
        span = (duration_s - self.offset_s) * self.rate_hz
        _check(math.isfinite(span), f"stream {excerpt(self.name)}: {duration_s:g} s at "
               f"{self.rate_hz:g} Hz is more frames than can be counted")
        if not span > 0:
            return 0
        n = math.ceil(span)
        # Frame i is captured at offset + i / rate, rounded: drop a last frame that lands on or
        # beyond the end (the ceiling overshoots by at most one frame, so two checks suffice
        # and astronomic counts stay cheap).
        for _ in range(2):
            if n > 0 and self.offset_s + (n - 1) / self.rate_hz >= duration_s:
                n -= 1
        return n

    def arrival_times(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        """Arrival times of the frames captured in [0, duration_s), sorted."""
        n = self.frame_count(duration_s)
        capture = self.offset_s + np.arange(n, dtype=float) / self.rate_hz
        if self.jitter_s > 0:
            return capture + rng.uniform(0.0, self.jitter_s, capture.size)
        return capture


@dataclass(frozen=True)
class Trace:
    """Streams sharing one chip for ``duration_s`` seconds."""

    name: str
    streams: tuple[Stream, ...]
    duration_s: float
    description: str = ""
    source: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "streams", tuple(self.streams))
        _check(len(self.streams) >= 1, "Trace needs at least one stream")
        names = [s.name for s in self.streams]
        _check(len(set(names)) == len(names), f"Trace stream names must be unique, got {names}")
        _check(math.isfinite(self.duration_s) and self.duration_s > 0,
               f"Trace.duration_s must be finite and > 0, got {excerpt(self.duration_s)}")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def with_model(self, model: ModelArch | None) -> Trace:
        """Fill streams whose language model is unnamed with ``model``."""
        if model is None:
            return self
        if not model.causal:
            raise SpecError([f"model {model.name!r} is an encoder (causal: false) and cannot be "
                             f"the language model of trace {self.name!r}; give a causal decoder"])
        out = []
        for s in self.streams:
            lang = s.request.language
            if lang is not None and lang.model is None:
                try:
                    lang = replace(lang, model=model)
                except ValueError as exc:
                    raise SpecError([f"trace {self.name!r}, stream {s.name!r}: {exc}"]) from None
                s = replace(s, request=replace(s.request, language=lang))
            out.append(s)
        return replace(self, streams=tuple(out))

    def missing_models(self) -> list[str]:
        """Names of the streams whose language model is still unnamed."""
        return [s.name for s in self.streams
                if s.request.language is not None and s.request.language.model is None]

    def arrivals(self, duration_s: float | None = None, seed: int = 0) -> list[np.ndarray]:
        """Arrival times per stream (same order as ``streams``) for ``duration_s`` (default:
        the trace's) and ``seed``; stream ``i`` draws from ``default_rng([seed, i])``."""
        d = self.duration_s if duration_s is None else float(duration_s)
        if not (math.isfinite(d) and d > 0):
            raise ValueError(f"duration must be a finite number of seconds > 0, got {excerpt(d)}")
        return [s.arrival_times(d, np.random.default_rng([int(seed), i]))
                for i, s in enumerate(self.streams)]

    def to_dict(self) -> dict[str, Any]:
        """Resolved trace as plain data (for config.json)."""
        def req(r: VLARequest) -> dict[str, Any]:
            out: dict[str, Any] = {"prefill_tokens": r.prefill_tokens,
                                   "action_tokens": r.action_tokens}
            if r.vision:
                v = r.vision
                out["vision"] = {"encoder": v.encoder.name,
                                 "extra_encoders": [e.name for e in v.extra_encoders],
                                 "cameras": v.cameras,
                                 "image_size": v.image_size, "patch_size": v.patch_size,
                                 "class_token": v.class_token,
                                 "encoder_tokens": v.encoder_tokens,
                                 "llm_tokens_per_camera": v.llm_tokens_per_camera}
            if r.language:
                lm = r.language
                out["language"] = {"model": lm.model.name if lm.model else None,
                                   "prompt_tokens": lm.prompt_tokens,
                                   "text_tokens": lm.text_tokens}
                g = lm.generation
                gen: dict[str, Any] = {"mode": g.mode, "actions": g.actions}
                if g.flow is not None:
                    f = g.flow
                    gen.update(expert=f.expert.name, steps=f.steps, action_dim=f.action_dim,
                               state_tokens=f.state_tokens, time_mlp=f.time_mlp)
                if g.speculative is not None:
                    sp = g.speculative
                    gen.update(draft=sp.draft.name, draft_tokens=sp.draft_tokens,
                               acceptance=sp.acceptance,
                               tokens_per_round=sp.tokens_per_round,
                               rounds=sp.rounds(lm.action_tokens))
                out["language"]["generation"] = gen
            return out

        def chunk(s: Stream) -> dict[str, Any] | None:
            c = s.chunking
            return None if c is None else {"execute": c.execute,
                                           "control_rate_hz": c.control_rate_hz,
                                           "overlap": c.overlap, "execute_s": c.execute_s}
        return {"name": self.name, "description": self.description, "source": self.source,
                "duration_s": self.duration_s,
                "streams": [{"name": s.name, "rate_hz": s.rate_hz, "deadline_s": s.deadline_s,
                             "jitter_s": s.jitter_s, "offset_s": s.offset_s,
                             "priority": s.priority, "request": req(s.request),
                             "chunking": chunk(s)}
                            for s in self.streams]}


# ---- loading ---------------------------------------------------------------------------------

def _trace_dir() -> Path:
    return Path(str(resources.files("workloads"))) / "presets" / "traces"


def list_traces() -> list[str]:
    """Names of the built-in trace presets."""
    return sorted(p.stem for p in _trace_dir().glob("*.yaml"))


def load_trace(name_or_path: str | Path) -> Trace:
    """A trace from a preset name (case ignored) or a YAML file path. A file is parsed once
    per version of it (traces are immutable); a trace naming model files is re-read when it
    is, since their versions are not part of the key."""
    s = str(name_or_path)
    p = Path(s)
    if s.endswith((".yaml", ".yml")) or p.is_file():
        if not p.is_file():
            raise SpecError([f"{p.name}: no such trace file"])
        return trace_from_dict(load_yaml(p), p.name, base_dir=p.parent)
    traces = list_traces()
    s = {t.lower(): t for t in traces}.get(s.lower(), s)
    preset = _trace_dir() / f"{s}.yaml"
    if not preset.is_file():
        from microarch.loader import did_you_mean

        raise SpecError([f"unknown trace {excerpt(s)}{did_you_mean(s, traces)} (built-in: "
                         f"{', '.join(traces)}; or give a trace .yaml file)"])
    return _cached_preset(str(preset), preset.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _cached_preset(path: str, _mtime_ns: int) -> Trace:
    p = Path(path)
    return trace_from_dict(load_yaml(p), p.name, base_dir=p.parent)


def _raw_value(r: Reader, key: str) -> Any:
    v = r.data.get(key)
    return v.get("value") if isinstance(v, dict) else v


def _with_unit(r: Reader, key: str, dimension: str, required: bool = True,
               default: Any = None, positive: bool = False) -> Any:
    """A quantity that must be written with its unit ("100 ms", not 100)."""
    raw = _raw_value(r, key)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        r.used.add(key)
        example = {"s": "100 ms", "hz": "10 Hz"}[dimension]
        r.error(f"{excerpt(raw)} has no unit; write it with one, e.g. '{example}'", key)
        return default
    return r.quantity(key, dimension, required=required, default=default, positive=positive)


def _model_ref(r: Reader, key: str, base_dir: Path | None, required: bool) -> ModelArch | None:
    name = r.string(key, required=required)
    if name is None:
        return None
    ref = name
    if name.endswith((".yaml", ".yml", ".json")) and base_dir is not None \
            and not Path(name).is_absolute():
        ref = str(base_dir / name)
    try:
        return load_model(ref)
    except SpecError as exc:
        r.error(exc.errors[0] if exc.errors else "cannot load model", key)
        return None


def _read_encoders(r: Reader, base_dir: Path | None) -> tuple[ModelArch, ...] | None:
    """``encoder``: one preset name or file, or a list of them (towers fused per image)."""
    r._note("encoder", "name_or_list", required=True)  # the schema: a name or a list
    raw = _raw_value(r, "encoder")
    names = raw if isinstance(raw, list) else None
    if names is None:
        one = _model_ref(r, "encoder", base_dir, required=True)
        found = [one]
    else:
        r.used.add("encoder")
        if not names or not all(isinstance(n, str) and n for n in names):
            r.error(f"{excerpt(raw)} is not a model name or a list of model names", "encoder")
            return None
        found = []
        for n in names:
            sub = Reader({"encoder": n}, r.file, r.path, r.errors, r.sources, r.ranges,
                         r.links)
            found.append(_model_ref(sub, "encoder", base_dir, required=True))
    if any(m is None for m in found):
        return None
    for m in found:
        if m.causal:
            r.error(f"{m.name!r} is a causal decoder, not a vision encoder (causal: false)",
                    "encoder")
            return None
    return tuple(found)


def _read_vision(r: Reader, base_dir: Path | None) -> Vision | None:
    towers = _read_encoders(r, base_dir)
    encoder = towers[0] if towers else None
    cameras = r.number("cameras", integer=True, positive=True)
    image = r.number("image_size", integer=True, positive=True)
    patch = r.number("patch_size", integer=True, positive=True)
    cls = r.boolean("class_token", default=False)
    tpc = r.number("tokens_per_camera", required=False, integer=True, positive=True)
    r.finish()
    if image is not None and patch is not None and patch > image:
        r.error(f"patch_size {patch} is larger than image_size {image}", "patch_size")
        return None
    if None in (encoder, cameras, image, patch) or cameras < 1 or (tpc is not None and tpc < 1):
        return None
    return Vision(encoder, cameras, image, patch, cls, tpc, towers[1:])


def _read_generation(r: Reader, base_dir: Path | None, actions_tokens: int | None) \
        -> ActionGeneration | None:
    mode = r.string("mode", choices=MODES)
    actions = r.number("actions", required=False, default=1, integer=True, positive=True)
    flow = spec = None
    ok = mode is not None and actions is not None
    if mode == "flow":
        expert = _model_ref(r, "expert", base_dir, required=True)
        steps = r.number("steps", integer=True, positive=True)
        adim = r.number("action_dim", integer=True, positive=True)
        state = r.number("state_tokens", required=False, default=0, integer=True)
        tmlp = r.boolean("time_mlp", default=True)
        if expert is not None and not expert.causal:
            r.error(f"{excerpt(expert.name)} is an encoder; an action expert is a decoder stack "
                    "(causal: true) that reads the language model's KV cache", "expert")
            expert = None
        if None in (expert, steps, adim, state):
            ok = False
        else:
            flow = FlowHead(expert, steps, adim, state, tmlp)
    elif mode == "speculative":
        draft = _model_ref(r, "draft", base_dir, required=True)
        k = r.number("draft_tokens", integer=True, positive=True)
        alpha = r.number("acceptance", low=0.0, high=1.0)
        if draft is not None and not draft.causal:
            r.error(f"{excerpt(draft.name)} is an encoder, not a draft decoder", "draft")
            draft = None
        if None in (draft, k, alpha):
            ok = False
        else:
            spec = Speculative(draft, k, float(alpha))
    if mode in ("parallel", "speculative") and actions_tokens is not None and actions_tokens < 1:
        r.error(f"{mode} generation needs action_tokens >= 1 (the tokens it generates)")
        ok = False
    r.finish()
    if not ok:
        return None
    return ActionGeneration(mode, actions, flow, spec)


def _read_language(r: Reader, base_dir: Path | None) -> Language | None:
    model = _model_ref(r, "model", base_dir, required=False)
    if model is not None and not model.causal:
        r.error(f"{excerpt(model.name)} is an encoder, not a decoder", "model")
    actions = r.number("action_tokens", integer=True)
    prompt = r.number("prompt_tokens", required=False, integer=True, positive=True)
    text = r.number("text_tokens", required=False, default=None, integer=True)
    gr = r.child("generation")
    generation = AUTOREGRESSIVE
    if gr is not None:
        generation = _read_generation(gr, base_dir, actions)
    r.finish()
    if prompt is not None and text is not None:
        r.error("give prompt_tokens (the whole prefill) or text_tokens (added to the vision "
                "tokens), not both", "text_tokens")
        return None
    if actions is None or actions < 0 or (prompt is not None and prompt < 1) \
            or (text is not None and text < 0) or (model is not None and not model.causal) \
            or generation is None:
        return None
    try:
        return Language(model, actions, prompt, text or 0, generation)
    except ValueError as exc:
        r.error(str(exc).replace("Language.", ""), "generation")
        return None


def _read_chunking(r: Reader) -> Chunking | None:
    execute = r.number("execute", integer=True, positive=True)
    rate = _with_unit(r, "control_rate", "hz", positive=True)
    overlap = r.boolean("overlap", default=True)
    r.finish()
    if execute is None or rate is None or execute < 1 or rate <= 0:
        return None
    return Chunking(execute, float(rate), overlap)


def trace_from_dict(data: Any, file: str = "<trace>", base_dir: Path | None = None) -> Trace:
    """Build and validate a :class:`Trace` from parsed YAML; raises :class:`SpecError`."""
    r = Reader(data, file)
    name = r.string("name")
    description = r.string("description", required=False, default="")
    source = r.string("source", required=False, default="")
    duration = _with_unit(r, "duration", "s", positive=True)
    streams: list[Stream] = []
    readers = r.children("streams", required=True)
    if not readers and "streams" in r.data and not any("streams" in e for e in r.errors):
        r.error("needs at least one stream", "streams")
    for sr in readers:
        sname = sr.string("name")
        priority = sr.number("priority", required=False, default=0, integer=True,
                             non_negative=False)
        deadline = _with_unit(sr, "deadline", "s", positive=True)
        ar = sr.child("arrival", required=True)
        rate = jitter = offset = None
        if ar is not None:
            rate = _with_unit(ar, "rate", "hz", positive=True)
            jitter = _with_unit(ar, "jitter", "s", required=False, default=0.0)
            offset = _with_unit(ar, "offset", "s", required=False, default=0.0)
            ar.finish()
            if rate and rate > 0 and jitter is not None and jitter >= 1.0 / rate:
                ar.error(f"jitter {jitter:g} s must be below one period ({1.0 / rate:g} s)",
                         "jitter")
                jitter = None
        vr = sr.child("vision")
        lr = sr.child("language")
        cr = sr.child("chunking")
        vision = _read_vision(vr, base_dir) if vr is not None else None
        language = _read_language(lr, base_dir) if lr is not None else None
        chunking = _read_chunking(cr) if cr is not None else None
        if vision is not None and language is not None and language.prompt_tokens is not None:
            vis = vision.cameras * vision.llm_tokens_per_camera
            if language.prompt_tokens < vis:
                lr.error(f"{language.prompt_tokens} is fewer than the {vis} vision tokens the "
                         f"prefill must contain ({vision.cameras} cameras x "
                         f"{vision.llm_tokens_per_camera}); raise it, or set "
                         "vision.tokens_per_camera to what the projector leaves per camera",
                         "prompt_tokens")
                language = None
        sr.finish()
        if vr is None and lr is None:
            sr.error("needs a vision section, a language section, or both")
            continue
        if (vr is not None and vision is None) or (lr is not None and language is None) \
                or (cr is not None and chunking is None):
            continue
        if None in (sname, deadline, rate, jitter, offset) or rate <= 0 or deadline <= 0 \
                or jitter < 0 or offset < 0:
            continue
        try:
            streams.append(Stream(sname, VLARequest(vision, language), rate, deadline, jitter,
                                  offset, int(priority or 0), chunking))
        except ValueError as exc:
            sr.error(str(exc))
    r.finish()
    names = [s.name for s in streams]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        r.error(f"stream names must be unique, repeated: {', '.join(dupes)}", "streams")
    r.raise_if_errors()
    try:
        return Trace(name=name, streams=tuple(streams), duration_s=duration,
                     description=description, source=source, sources=dict(r.sources))
    except ValueError as exc:
        raise SpecError([f"{file}: {exc}"]) from None
