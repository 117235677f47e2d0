"""The Claude Code sub-agent: `<claude config dir>/agents/dario.md`.

It may only run dario's read-only commands, so asking Claude "why are my calls
failing?" can never end with it editing keys or backends. The marker line carries
the dario version that wrote the file: `status` and `doctor` compare it with the
running version to say current or stale, and `remove` only deletes a file that has
it (a hand-written dario.md is left alone).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from dario import __version__

ABSENT, CURRENT, STALE, FOREIGN = "not installed", "installed, current", "installed, stale", "not dario's"
MARKER = "<!-- dario-subagent v{version} -->"
_MARKER_RE = re.compile(r"<!-- dario-subagent v(\S+) -->")

TEMPLATE = """\
---
name: dario
description: Answers questions about dario (the tool that routes and records this machine's LLM API calls) \
by running its read-only commands - health (dario doctor), token usage and cost (dario usage), recent calls \
and errors (dario log), run reports (dario report). Use it when the user asks why LLM calls fail, what they \
cost, or whether dario is set up right.
tools: Bash, Read
---
{marker}

You answer questions about dario by running its read-only commands and explaining what they show.

Run only these commands (add `--json` where offered when you need to parse the output):

- `dario doctor [--json]`: one row per health check (ok / warn / fail) with a detail.
- `dario usage [--by model|backend|day|run|client] [--since 30m|24h|7d] [--json]`: requests, tokens, cost.
- `dario log [-n N] [--run RUN_ID] [--json]`: the newest recorded calls (status, tokens, latency, error).
- `dario report [--run RUN_ID | --last]`: writes an HTML report of one run and prints its path; you may Read it.
- `dario --version`, and `--help` on any of the above.

Never:

- run `dario backend` (add, remove or list), `dario proxy`, `dario shim`, `dario subagent` or `dario mcp`;
- write, edit, move, chmod or delete anything under DARIO_HOME (default `~/.dario`) or this agents directory;
- Read `credentials.json`, or print, echo, search for or ask for an API key.

When a fix needs a change (a key, a backend, a chmod, a restart), give the user the exact command to type
themselves and stop there.
"""


def agents_dir() -> Path:
    """Claude Code reads CLAUDE_CONFIG_DIR instead of ~/.claude when it is set."""
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".claude") / "agents"


def agent_path() -> Path:
    return agents_dir() / "dario.md"


def render(version: str = __version__) -> str:
    return TEMPLATE.format(marker=MARKER.format(version=version))


@dataclass
class State:
    status: str
    path: Path
    version: str | None = None

    def describe(self) -> str:
        if self.status == ABSENT:
            return "not installed (dario subagent install)"
        if self.status == FOREIGN:
            return "exists but was not written by dario (no marker): left alone"
        if self.status == STALE and self.version == __version__:
            return f"installed, stale (v{self.version}, edited since): dario subagent install restores it"
        if self.status == STALE:
            return f"installed, stale (written by dario {self.version}, this is {__version__}): " \
                   f"run dario subagent install"
        return f"installed, current (v{self.version})"


def state(path: Path | None = None) -> State:
    path = path or agent_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return State(ABSENT, path)
    m = _MARKER_RE.search(text)
    if not m:
        return State(FOREIGN, path)
    version = m.group(1)
    return State(CURRENT if version == __version__ and text == render() else STALE, path, version)


def install(force: bool = False) -> State:
    path = agent_path()
    if state(path).status == FOREIGN and not force:
        raise FileExistsError(f"{path} exists and was not written by dario; use --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(), encoding="utf-8")
    os.replace(tmp, path)  # atomic: Claude Code never sees half a file
    return state(path)


def remove() -> bool:
    """True if a file was removed. Absent is fine (idempotent); a foreign file is refused."""
    path = agent_path()
    st = state(path)
    if st.status == ABSENT:
        return False
    if st.status == FOREIGN:
        raise FileExistsError(f"{path} was not written by dario (no marker); remove it yourself if you mean to")
    path.unlink(missing_ok=True)
    return True
