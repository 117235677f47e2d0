"""A key named by env:VAR whose variable is unset: `backend add` says so, and a call gets the client's
protocol's own 401 that names the backend and the variable, which the SDKs do not retry."""

from __future__ import annotations

import anthropic
import openai
import pytest
from typer.testing import CliRunner

from dario.pipeline.backends import Backend
from tests.support.dario_proxy import start_proxy

VAR = "DARIO_TEST_NEVER_SET_KEY"


def test_backend_add_with_an_unset_variable_warns_and_saves(tmp_path, monkeypatch):
    from dario.cli import app
    from dario.store.config import load_config
    monkeypatch.setenv("DARIO_HOME", str(tmp_path))
    monkeypatch.delenv(VAR, raising=False)
    r = CliRunner().invoke(app, ["backend", "add", "anthropic", "--key", f"env:{VAR}"])
    assert r.exit_code == 0
    assert f"warning: {VAR} is not set" in r.output and f"export {VAR}=" in r.output
    assert load_config(tmp_path).backends["anthropic"].keys == [f"env:{VAR}"]
    monkeypatch.setenv(VAR, "sk-now-it-is-set-0000")
    r = CliRunner().invoke(app, ["backend", "add", "anthropic", "--key", f"env:{VAR}"])
    assert r.exit_code == 0 and "warning" not in r.output


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_call_with_an_unresolvable_key_is_a_401_naming_backend_and_variable(upstream, monkeypatch, kind):
    monkeypatch.delenv(VAR, raising=False)
    base = upstream.url if kind == "anthropic" else upstream.url + "/v1"
    server, rec = start_proxy(upstream.url, backends={"mine": Backend("mine", kind, base, [f"env:{VAR}"])},
                              default="mine")
    try:
        if kind == "anthropic":
            with pytest.raises(anthropic.AuthenticationError) as e:
                anthropic.Anthropic(base_url=server.url, api_key="x").messages.create(
                    model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            err = e.value.body["error"]
            assert err["type"] == "authentication_error"
        else:
            with pytest.raises(openai.AuthenticationError) as e:
                openai.OpenAI(base_url=server.url + "/v1", api_key="x").chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}])
            err = e.value.body
            assert err["code"] == "invalid_api_key"
    finally:
        server.stop()
    assert "'mine'" in err["message"] and VAR in err["message"]
    assert upstream.requests == [] and len(rec.records) == 1 and rec.records[0].status == 401  # not retried
