"""Which key of a backend a call uses: a pool with per-key rate-limit state.

Each answer's rate-limit headers tell how much headroom its key has left; a call goes to
the key with the most, a key that got a 429/529 cools down until its reset, and a
conversation stays on one key while it is healthy so the provider's prompt cache
survives the run. State is keyed by position and named by fingerprint: no key material
is ever logged or stored here beyond what the Backend already holds.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime

from dario.pipeline.backends import Backend, KeyUnavailable, resolve_key

LIMITED = (429, 529)  # answers that mean "this key, not now"
DEFAULT_COOLDOWN = 5.0  # a 429 with no hint of when it ends
MAX_COOLDOWN = 3600.0  # a bogus reset far in the future must not park a key for ever
MAX_BACKOFF = 300.0  # repeated 429s double a key's cooldown, up to this
STICKY_TTL = 3600.0  # longest prompt-cache lifetime providers offer
STICKY_CAP = 10_000


@dataclass(frozen=True)
class KeyChoice:
    key_id: str  # non-secret fingerprint, safe for logs and the store
    secret: str
    index: int = -1  # position in the pool


def key_id(secret: str) -> str:
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:10]


@dataclass
class Limited:
    """A provider's own 429/529 answer (already redacted), kept to hand back when every key is cooling."""

    status: int
    headers: dict
    body: bytes


@dataclass
class KeyState:
    key_id: str | None = None
    # dimension ("requests", "tokens", "input-tokens", …) -> [remaining, limit, reset_at (monotonic) | None]
    dims: dict = field(default_factory=dict)
    cooldown_until: float = 0.0
    in_flight: int = 0  # sent, answer headers not seen yet
    last_pick: int = 0
    calls: int = 0
    limited: int = 0  # how many 429/529 it got
    strikes: int = 0  # 429/529s in a row: > 0 means half-open once the cooldown ends
    probing: bool = False  # half-open: one call is testing it; no other call may use it meanwhile

    def usable(self, now: float) -> bool:
        return self.cooldown_until <= now and not (self.strikes and self.probing)

    def headroom(self, now: float) -> float:
        """Fraction of the tightest known limit left; unknown (or past its reset) counts as full."""
        frac = 1.0
        for dim, (remaining, limit, reset_at) in self.dims.items():
            if remaining is None or not limit or (reset_at is not None and reset_at <= now):
                continue
            left = remaining - (self.in_flight if dim == "requests" else 0)
            frac = min(frac, max(0.0, left / limit))
        return frac


# -- header parsing -----------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def _seconds_until(value: str, now_wall: float) -> float | None:
    """A reset hint as seconds from now: seconds, a Go-style duration (6m0s), an RFC 3339 or HTTP date."""
    v = value.strip()
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        pass
    parts = _DURATION.findall(v)
    if parts and "".join(n + u for n, u in parts) == v:
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() - now_wall
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(v).timestamp() - now_wall
    except (TypeError, ValueError):
        return None


def _int(v: str) -> int | None:
    try:
        return int(float(v))
    except ValueError:
        return None


def parse_limits(headers, now: float, now_wall: float) -> tuple[dict, float | None]:
    """{dimension: [remaining, limit, reset_at]} and the retry-after (seconds) of one answer."""
    dims: dict = {}
    retry_after = None
    for name, value in headers.items():
        n = name.lower()
        if n == "retry-after":
            retry_after = _seconds_until(value, now_wall)
            continue
        if n.startswith("anthropic-ratelimit-"):  # anthropic-ratelimit-{dim}-{field}
            dim, _, fld = n[20:].rpartition("-")
        elif n.startswith("x-ratelimit-"):  # x-ratelimit-{field}-{dim}
            fld, _, dim = n[12:].partition("-")
        else:
            continue
        if not dim or fld not in ("remaining", "limit", "reset"):
            continue
        slot = dims.setdefault(dim, [None, None, None])
        if fld == "reset":
            s = _seconds_until(value, now_wall)
            slot[2] = None if s is None else now + s
        else:
            slot[0 if fld == "remaining" else 1] = _int(value)
    return dims, retry_after


# -- the pool -------------------------------------------------------------------------
class KeyPool:
    def __init__(self, backend: Backend, *, sticky_ttl: float = STICKY_TTL, sticky_cap: int = STICKY_CAP,
                 clock=time.monotonic) -> None:
        self.backend = backend
        self.states = [KeyState() for _ in backend.keys]
        self.last_limited: Limited | None = None
        self._sticky: OrderedDict[str, tuple[int, float]] = OrderedDict()  # conversation -> (index, last use)
        self._ttl, self._cap = sticky_ttl, sticky_cap
        self._clock = clock
        self._seq = 0
        self._ids: dict[str, str] = {}  # secret -> fingerprint, so a pick hashes nothing

    def __len__(self) -> int:
        return len(self.states)

    def _resolve(self, i: int) -> KeyChoice:
        secret = resolve_key(self.backend.keys[i])
        kid = self._ids.get(secret)
        if kid is None:
            if len(self._ids) > 4 * len(self.states) + 16:  # env: keys that keep changing
                self._ids.clear()
            kid = self._ids[secret] = key_id(secret)
        self.states[i].key_id = kid
        return KeyChoice(kid, secret, i)

    def _healthy(self, i: int, now: float) -> bool:
        s = self.states[i]
        return s.usable(now) and s.headroom(now) > 0.0

    def pick(self, conversation: str | None = None) -> KeyChoice | None:
        """A key for the next call; None when the backend has none (local, passthrough) or every
        key is cooling (see `ready_in`). Raises KeyUnavailable when no key can be resolved."""
        if not self.states:
            return None
        now = self._clock()
        choice = None
        if conversation is not None:
            bound = self._bound(conversation, now)
            if bound is not None and self._healthy(bound, now):
                try:
                    choice = self._resolve(bound)
                except KeyUnavailable:
                    choice = None
        if choice is None:
            choice = self._best(now)
            if choice is None:
                return None
        if conversation is not None:
            self._bind(conversation, choice.index, now)
        s = self.states[choice.index]
        self._seq += 1
        s.last_pick, s.in_flight, s.calls = self._seq, s.in_flight + 1, s.calls + 1
        if s.strikes:  # half-open: this call is the one probe until its answer comes
            s.probing = True
        return choice

    def _best(self, now: float) -> KeyChoice | None:
        # a half-open key first (usable() lets exactly one call have it: the probe), then most
        # headroom, then fewest in flight, then least recently picked (round-robin on ties)
        if len(self.states) == 1:  # the common case: nothing to order
            order = [0] if self.states[0].usable(now) else []
        else:
            order = sorted((i for i, s in enumerate(self.states) if s.usable(now)),
                           key=lambda i: (self.states[i].strikes == 0, -self.states[i].headroom(now),
                                          self.states[i].in_flight, self.states[i].last_pick))
        error = None
        for i in order:
            try:
                return self._resolve(i)
            except KeyUnavailable as e:
                error = error or e
        if error is not None and all(s.usable(now) for s in self.states):
            raise error  # nothing cooling, nothing resolvable: waiting would not help
        return None

    def ready_in(self) -> float:
        """Seconds until the soonest cooling key may be used again (0: none is cooling; a
        half-open key being probed counts as ready again soon)."""
        now = self._clock()
        cooling = [s.cooldown_until - now if s.cooldown_until > now else 0.05
                   for s in self.states if not s.usable(now)]
        return min(cooling) if cooling else 0.0

    def retry_after(self) -> int:
        return max(1, math.ceil(self.ready_in()))

    def release(self, choice: KeyChoice | None) -> None:
        """The call on this key ended without an answer (error, timeout, cancel)."""
        if choice is not None and 0 <= choice.index < len(self.states):
            s = self.states[choice.index]
            s.in_flight = max(0, s.in_flight - 1)
            s.probing = False  # no verdict: another call may probe it

    def observe(self, choice: KeyChoice | None, status: int, headers) -> None:
        """Told each upstream answer's status and headers: headroom, and cooldown on 429/529."""
        if choice is None or not 0 <= choice.index < len(self.states):
            return
        s = self.states[choice.index]
        s.in_flight = max(0, s.in_flight - 1)
        now = self._clock()
        retry_after = None
        if len(self.states) > 1 or status in LIMITED:  # one key answered: no headroom to order keys by
            dims, retry_after = parse_limits(headers, now, time.time())
            for dim, (remaining, limit, reset_at) in dims.items():
                old = s.dims.get(dim) or [None, None, None]
                s.dims[dim] = [remaining if remaining is not None else old[0], limit or old[1],
                               reset_at if reset_at is not None else old[2]]
        s.probing = False
        if status in LIMITED:
            s.limited += 1
            s.strikes += 1
            cool = self._cooldown(s, now, retry_after)
            # a key that keeps refusing backs off exponentially even when its retry-after is short
            cool = max(cool, min(MAX_BACKOFF, cool * 2 ** (s.strikes - 1)))
            s.cooldown_until = now + min(MAX_COOLDOWN, cool)
        else:
            s.strikes = 0  # the probe (or any call) got through: healthy again

    @staticmethod
    def _cooldown(s: KeyState, now: float, retry_after: float | None) -> float:
        if retry_after is not None and retry_after > 0:
            return retry_after
        # the latest reset among exhausted limits, else the soonest reset we know of
        exhausted = [r - now for rem, _, r in s.dims.values() if r is not None and r > now and rem == 0]
        if exhausted:
            return max(exhausted)
        resets = [r - now for _, _, r in s.dims.values() if r is not None and r > now]
        return min(resets) if resets else DEFAULT_COOLDOWN

    # -- stickiness: bounded LRU with a TTL ------------------------------------------------
    def _bound(self, conversation: str, now: float) -> int | None:
        hit = self._sticky.get(conversation)
        if hit is None:
            return None
        if now - hit[1] > self._ttl:
            del self._sticky[conversation]
            return None
        return hit[0]

    def _bind(self, conversation: str, index: int, now: float) -> None:
        self._sticky[conversation] = (index, now)
        self._sticky.move_to_end(conversation)
        while self._sticky:  # expired or over the cap: oldest first
            oldest, (_, used) = next(iter(self._sticky.items()))
            if len(self._sticky) <= self._cap and now - used <= self._ttl:
                break
            del self._sticky[oldest]

    def snapshot(self) -> list[dict]:
        """Per-key state for status displays: fingerprints only."""
        now = self._clock()
        return [{"key_id": s.key_id, "headroom": round(s.headroom(now), 3), "in_flight": s.in_flight,
                 "cooling_for": round(max(0.0, s.cooldown_until - now), 1), "calls": s.calls,
                 "limited": s.limited} for s in self.states]
