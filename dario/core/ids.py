"""Ids for calls and conversations, without a syscall per id.

uuid4() reads os.urandom for every id, which cost ~35 us per call here (bench/profile.py: two
ids a call). Ids only need to be unique, not unguessable, so a per-process generator seeded from
os.urandom serves; it is reseeded in a forked child so two processes never share a sequence.

A call's id starts with the time (as UUIDv7 does): telemetry.db indexes calls and bodies by id, and
random ids put every insert on a random page of both indexes, so the writer's cost a call doubled as
the database grew (24 -> 41 us at 400k calls; flat at 18 us with these). People name a call by its
last characters (`dario log` shows them, `dario show` takes them), where the randomness is.
A conversation's id is made the same way, for the same reason: telemetry.db indexes calls by
conversation too, and where most calls open a conversation of their own (a gateway's one-shot calls),
random ones cost the writer as random call ids did (21 -> 29 us a call over 500k calls; flat at 18).
"""

from __future__ import annotations

import os
import random
import time

_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """32 hex digits: milliseconds since the epoch (12), then 80 random bits (20)."""
    return "%012x%020x" % (int(time.time() * 1000), _rng.getrandbits(80))
