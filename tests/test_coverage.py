"""The coverage report of a shim run: which door caught each call, and LLM-looking hosts that were only
tunnelled (a silent miss, made visible at exit with -v and in `dario report`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dario.shim.coverage import coverage_lines, looks_like_llm
from tests.support.fake_upstream import ANSWER
from tests.support.shim import base_env, dario_cmd, run_shim


@pytest.mark.parametrize("host, llm", [
    ("api.mistral.ai:443", True), ("bedrock-runtime.eu-west-1.amazonaws.com:443", True),
    ("my-team.openai.azure.com:443", True), ("llm-gateway.corp.example:8443", True),
    ("us-central1-aiplatform.googleapis.com:443", True), ("github.com:443", False),
    ("registry.npmjs.org:443", False), ("statsig.anthropic.com:443", False), ("[::1]:8080", False)])
def test_which_hosts_look_like_llm_apis(host, llm):
    assert looks_like_llm(host) is llm


def test_coverage_lines_name_each_door_and_each_miss():
    lines = coverage_lines({"in-process": 3, "https-proxy": 1}, {"github.com:443": 2, "api.groq.com:443": 1})
    assert lines[0] == "caught: 3 in-process, 1 HTTPS proxy"
    assert lines[1] == "tunnelled untouched: 3 connection(s) to 2 host(s): github.com:443, api.groq.com:443"
    assert lines[2].startswith("not seen: api.groq.com:443 looks like an LLM API")
    assert "dario shim --intercept api.groq.com" in lines[2]
    assert coverage_lines({}, {}) == ["caught: no LLM call"]


CHILD = r"""
import json, subprocess, sys, urllib.request
body = json.dumps({"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).encode()
h = {"content-type": "application/json", "x-api-key": "dummy", "anthropic-version": "2023-06-01"}
r = urllib.request.urlopen(urllib.request.Request("https://api.anthropic.com/v1/messages", data=body, headers=h))
print(json.loads(r.read())["content"][0]["text"])
# curl honours only HTTPS_PROXY: one call through the proxy, one tunnel to a host dario does not intercept
subprocess.run(["curl", "-sS", "-o", "/dev/null", "https://api.anthropic.com/v1/messages", "-H",
                "content-type: application/json", "-d", body.decode()], check=True)
subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "5", "https://api.mistral.ai/v1/models"])
"""


@pytest.mark.skipif(not os.path.exists("/usr/bin/curl"), reason="curl is not installed")
def test_a_runs_coverage_at_exit_and_in_the_report(home, upstream, tmp_path):
    r = run_shim(home, sys.executable, "-c", CHILD, options=("-v",))
    err = r.stderr.decode()
    assert r.stdout.decode().splitlines()[0] == ANSWER, err
    assert "dario: caught: 1 in-process, 1 HTTPS proxy" in err
    assert "dario: tunnelled untouched: 1 connection(s) to 1 host(s): api.mistral.ai:443" in err
    assert "dario: not seen: api.mistral.ai:443 looks like an LLM API" in err
    rows = [json.loads(x) for x in subprocess.run(dario_cmd("log", "--json"), env=base_env(home), capture_output=True,
                                                 text=True, timeout=30).stdout.splitlines()]
    assert sorted(x["door"] for x in rows) == ["https-proxy", "in-process"]
    out = tmp_path / "r.html"
    rep = subprocess.run(dario_cmd("report", "--out", str(out)), env=base_env(home), capture_output=True, text=True,
                         timeout=30)
    assert rep.returncode == 0, rep.stderr
    page = out.read_text()
    assert "<h2>Coverage</h2>" in page and "caught: 1 in-process, 1 HTTPS proxy" in page
    assert '<li class="miss">not seen: api.mistral.ai:443 looks like an LLM API' in page
