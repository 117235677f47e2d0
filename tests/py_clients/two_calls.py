"""Two calls on one client: waits for a line on stdin between them (the test stops the host there).

usage: two_calls.py httpx|httpx2|requests URL   -- prints one JSON line per call
"""
import json
import sys
import time

lib, url = sys.argv[1], sys.argv[2]
body = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
headers = {"x-api-key": "sk-ant-own", "anthropic-version": "2023-06-01"}
if lib == "requests":
    import requests
    client = requests.Session()
    call = lambda: client.post(url, json=body, headers=headers, timeout=10).status_code  # noqa: E731
else:
    mod = __import__(lib)
    client = mod.Client(timeout=10)
    call = lambda: client.post(url, json=body, headers=headers).status_code  # noqa: E731
for i in range(2):
    if i:
        sys.stdin.readline()
    t0 = time.monotonic()
    try:
        out = {"status": call()}
    except Exception as e:
        out = {"error": "%s: %s %s" % (type(e).__name__, e, e.__cause__ or e.__context__ or "")}
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out), flush=True)
