"""Makes a call, kills its parent (the dario launcher and host), then calls again.

Prints one JSON line: the first answer, and what the second call raised and how long it took.
"""
import json
import os
import signal
import sys
import time

import anthropic

client = anthropic.Anthropic(max_retries=0, timeout=20)
kw = dict(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
out = {"first": client.messages.create(**kw).content[0].text}
parent = os.getppid()
os.kill(parent, signal.SIGKILL)
while os.getppid() == parent:  # reparented once the launcher is gone
    time.sleep(0.01)
t0 = time.monotonic()
try:
    client.messages.create(**kw)
    out["second"] = "succeeded"
except Exception as e:
    out["second"] = f"{type(e).__name__}: {e} {e.__cause__ or ''}"
out["seconds"] = round(time.monotonic() - t0, 3)
sys.stdout.write(json.dumps(out) + "\n")
