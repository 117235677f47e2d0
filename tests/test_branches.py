"""Branches of a conversation (pipeline/sessions.py): each call names the call it extends, so a fork (two
calls extending one) shows; a sub-agent's conversation is linked to the call whose tool call spawned it.
Driven through the real proxy with requests shaped as Claude Code and Codex send them."""

from __future__ import annotations

import json

import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from dario.pipeline.sessions import Conversations
from dario.report.html import render

A_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
TASK = "Survey the repository layout and report which modules own the HTTP client"
USER = {"role": "user", "content": "Refactor the HTTP client, use a sub-agent to survey first"}
TOOL_USE = {"role": "assistant", "content": [
    {"type": "text", "text": "I'll ask a sub-agent."},
    {"type": "tool_use", "id": "toolu_1", "name": "Task", "input": {"description": "survey", "prompt": TASK}}]}


def post(proxy, body):
    r = requests.post(proxy.url + "/v1/messages", json={"model": "claude-x", "max_tokens": 20, **body},
                      headers=A_HEADERS, timeout=10)
    assert r.status_code == 200, r.text
    return proxy.records[-1]


def test_a_sub_agent_is_a_branch_of_the_call_that_spawned_it_and_a_retry_is_a_fork(proxy):
    p1 = post(proxy, {"system": "You are the main agent", "messages": [USER]})
    # the sub-agent: its own system prompt, the task's prompt (after a reminder block) as its first message
    s1 = post(proxy, {"system": "You are a sub-agent", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>cwd is /src</system-reminder>"}, {"type": "text", "text": TASK}]}]})
    s2 = post(proxy, {"system": "You are a sub-agent", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "<system-reminder>cwd is /src</system-reminder>"},
                                     {"type": "text", "text": TASK}]},
        {"role": "assistant", "content": "Looking."}, {"role": "user", "content": "go on"}]})
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]}
    p2 = post(proxy, {"system": "You are the main agent", "messages": [USER, TOOL_USE, result]})
    retry = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "again"}]}
    p3 = post(proxy, {"system": "You are the main agent", "messages": [USER, TOOL_USE, retry]})

    assert s1.conversation != p1.conversation and s2.conversation == s1.conversation
    assert s2.parent_call == s1.id and s1.parent_call is None and p1.parent_call is None
    assert p2.conversation == p1.conversation and p2.parent_call == p1.id
    assert p2.subagents == s1.conversation  # found when the parent's next turn shows the Task call
    assert p3.conversation == p1.conversation and p3.parent_call == p1.id and p3.subagents is None  # a fork

    rows = [{**r.as_dict(), "ts": r.ts} for r in proxy.records]
    page = render({"run_id": "test-run", "source": "proxy"}, rows)
    assert f'sub-agent of <a href="#call-{p1.id}">call #1</a> (Conversation 1)' in page
    assert f'spawned a sub-agent: <a href="#conv-{s1.conversation}">Conversation 2</a>' in page
    assert f'a branch: it continues <a href="#call-{p1.id}">call #1</a>, not the call before it' in page


def test_short_or_unrelated_tool_arguments_link_nothing():
    c = Conversations()
    first = c.assign("r", "anthropic", {"messages": [{"role": "user", "content": "hello there"}]}, "c1")
    other = c.assign("r", "anthropic", {"messages": [{"role": "user", "content": "read the file please"}]}, "c2")
    cont = c.assign("r", "anthropic", {"messages": [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Read",
                                            "input": {"path": "file"}}]},  # short: not a task's prompt
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]}, "c3")
    assert cont.conversation == first.conversation != other.conversation
    assert cont.parent_call == "c1" and cont.subagents == []


def test_openai_and_responses_tool_calls_link_sub_agents_too():
    for protocol, turn in [
        ("openai", {"messages": [{"role": "user", "content": "plan"}, {"role": "assistant", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "spawn", "arguments": '{"task": "%s"}' % TASK}}]},
            {"role": "tool", "tool_call_id": "1", "content": "ok"}]}),
        ("responses", {"input": [{"role": "user", "content": "plan"}, {"type": "function_call", "call_id": "1",
                                  "name": "spawn", "arguments": '{"task": "%s"}' % TASK},
                                 {"type": "function_call_output", "call_id": "1", "output": "ok"}]})]:
        c = Conversations()
        first = {"messages": [{"role": "user", "content": "plan"}]} if protocol == "openai" else {"input": "plan"}
        parent = c.assign("r", protocol, first, "p1")
        child = c.assign("r", protocol, {"messages": [{"role": "user", "content": TASK}]} if protocol == "openai"
                         else {"input": TASK}, "s1")
        later = c.assign("r", protocol, turn, "p2")
        assert later.conversation == parent.conversation and later.subagents == [child.conversation], protocol


# -- the same conversations from a decoded body and from its bytes ------------------------------------------

def _shaped(protocol: str, system: str, turns: list[tuple[str, str, str | None]]) -> dict:
    """A history of (role, text, a spawned task's prompt or None) in `protocol`'s request shape."""
    if protocol == "anthropic":
        return {"system": [{"type": "text", "text": system}], "messages": [
            {"role": r, "content": [{"type": "text", "text": t}] + ([{"type": "tool_use", "id": f"t{i}", "name": "Task",
                                                                       "input": {"prompt": task}}] if task else [])}
            for i, (r, t, task) in enumerate(turns)]}
    if protocol == "openai":
        return {"messages": [{"role": "system", "content": system}] + [
            {"role": r, "content": t, **({"tool_calls": [{"id": f"c{i}", "type": "function", "function": {
                "name": "spawn", "arguments": json.dumps({"task": task})}}]} if task else {})}
            for i, (r, t, task) in enumerate(turns)]}
    if protocol == "responses":
        items = []
        for i, (r, t, task) in enumerate(turns):  # the turn after a tool call: its output, as Codex sends it
            after_call = i > 0 and turns[i - 1][2]
            items.append({"type": "function_call_output", "call_id": f"c{i - 1}", "output": t} if after_call
                         else {"role": r, "content": t})
            if task:
                items.append({"type": "function_call", "call_id": f"c{i}", "name": "spawn",
                              "arguments": json.dumps({"task": task})})
        return {"instructions": system, "input": items}
    return {"systemInstruction": {"parts": [{"text": system}]}, "contents": [
        {"role": "model" if r == "assistant" else "user", "parts": [{"text": t}] + (
            [{"functionCall": {"name": "spawn", "args": {"task": task}}}] if task else [])}
        for r, t, task in turns]}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["anthropic", "openai", "responses", "gemini"]),
       st.lists(st.sampled_from(["main", "sub", "retry"]), min_size=1, max_size=12),
       st.lists(st.sampled_from([(",", ":"), (", ", ": ")]), min_size=12, max_size=12))
def test_a_body_given_as_its_bytes_gets_the_conversation_its_decoded_self_gets(protocol, steps, seps):
    """The conversation of a long call is read from its bytes, each turn once (sessions.py); from the
    decoded body it is read whole. Both must say the same of every call: conversation, parent, sub-agents,
    however the client spaced its JSON from one call to the next."""
    task = "Survey the repository and list every module that owns an HTTP client"
    agents = {"main": ("You are the main agent", [("user", "Refactor the client", None)]),
              "sub": ("You are a sub-agent", [("user", task, None)])}
    calls = []
    for i, step in enumerate(steps):
        who = "main" if step == "retry" else step
        system, turns = agents[who]
        body = _shaped(protocol, system, turns if step != "retry" else turns[:-1] + [("user", f"retry {i}", None)])
        calls.append((f"c{i}", body))
        spawn = task if who == "main" and len(turns) == 1 else None  # the main agent's first answer spawns it
        agents[who] = (system, turns + [("assistant", f"answer {i}", spawn), ("user", f"more {i}", None)])
    out = []
    for as_bytes in (False, True):
        c, ids, seen = Conversations(), {}, []
        for (cid, body), sep in zip(calls, seps):
            t = c.assign("run", protocol, json.dumps(body, separators=sep).encode() if as_bytes else body, cid)
            name = lambda conv: ids.setdefault(conv, len(ids)) if conv else None  # noqa: E731
            seen.append((name(t.conversation), t.parent_call, sorted(name(s) for s in t.subagents)))
        out.append(seen)
    assert out[0] == out[1]


def test_a_long_historys_turns_are_read_once_each():
    c = Conversations()
    history = [{"role": "user", "content": "start"}]
    for i in range(200):
        body = json.dumps({"messages": history}).encode()
        before = len(c._memo.get("anthropic", {}))
        c.assign("run", "anthropic", body, f"c{i}")
        assert len(c._memo["anthropic"]) - before == (1 if i == 0 else 2)  # only the turns this call added
        history = history + [{"role": "assistant", "content": f"a{i}"}, {"role": "user", "content": f"u{i}"}]


def test_a_responses_input_of_one_string_reads_the_same_from_its_bytes():
    for as_bytes in (False, True):
        c = Conversations()
        body = {"instructions": "Be brief.", "input": "plan the refactor of the client"}
        first = c.assign("r", "responses", json.dumps(body).encode() if as_bytes else body, "c1")
        later = {"instructions": "Be brief.", "input": [{"role": "user", "content": "plan the refactor of the client"},
                                                        {"role": "assistant", "content": "ok"},
                                                        {"role": "user", "content": "go"}]}
        cont = c.assign("r", "responses", json.dumps(later).encode() if as_bytes else later, "c2")
        assert first.conversation and cont.conversation == first.conversation and cont.parent_call == "c1"
