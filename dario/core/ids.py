"""Ids for calls and conversations: 128 random bits as 32 hex digits, without a syscall per id.

uuid4() reads os.urandom for every id, which cost ~35 us per call here (bench/profile.py: two
ids a call). Ids only need to be unique and spread (`dario show` finds a call by any prefix),
not unguessable, so a per-process generator seeded from os.urandom serves; it is reseeded in
a forked child so two processes never share a sequence.
"""

from __future__ import annotations

import os
import random

_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    return "%032x" % _rng.getrandbits(128)
