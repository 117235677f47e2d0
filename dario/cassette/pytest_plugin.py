"""pytest plugin: the `dario_cassette` fixture runs a command under `dario shim`, recording or
replaying its LLM calls, in the manner of pytest-recording.

    def test_agent(dario_cassette):
        r = dario_cassette.run("python", "agent.py", capture_output=True)
        assert r.returncode == 0

    @pytest.mark.dario_cassette("cassettes/agent.jsonl")   # a path of your own (else one per test)

`--dario-record=none` (default: replay only, a miss fails the call), `new` (replay what is
recorded, record what is not; record from scratch when there is no cassette), `all` (record
everything again). Cassettes default to `cassettes/<module>/<test>.jsonl` beside the test file.
Loaded by pytest through its entry point; imports nothing of dario until a test uses it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MODES = ("none", "new", "all")


def pytest_addoption(parser) -> None:
    parser.getgroup("dario").addoption(
        "--dario-record", action="store", default="none", choices=MODES,
        help="dario_cassette: none = replay only (default), new = record what is missing, all = record again")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "dario_cassette(path): the cassette file of a test's dario_cassette")


class CassetteRun:
    def __init__(self, path: Path, mode: str) -> None:
        self.path, self.mode = path, mode

    def options(self) -> list[str]:
        if self.mode == "all":
            return ["--record", str(self.path)]
        if self.mode == "new":
            return ["--replay", str(self.path), "--on-miss", "record"] if self.path.exists() else \
                ["--record", str(self.path)]
        if not self.path.exists():
            pytest.fail(f"dario_cassette: no cassette at {self.path}; record it with --dario-record=new")
        return ["--replay", str(self.path)]

    def command(self, *cmd: str, shim_options: tuple[str, ...] = ()) -> list[str]:
        return [sys.executable, "-m", "dario", "shim", *self.options(), *shim_options, "--", *cmd]

    def run(self, *cmd: str, shim_options: tuple[str, ...] = (), **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*cmd, shim_options=shim_options), **kw)


@pytest.fixture
def dario_cassette(request) -> CassetteRun:
    mode = request.config.getoption("--dario-record")
    marker = request.node.get_closest_marker("dario_cassette")
    here = Path(str(request.node.fspath)).parent
    if marker is not None and marker.args:
        path = Path(marker.args[0])
        path = path if path.is_absolute() else here / path
    else:
        name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        path = here / "cassettes" / Path(str(request.node.fspath)).stem / f"{name}.jsonl"
    if mode == "all" and path.exists():
        path.unlink()  # recorded again from scratch
    return CassetteRun(path, mode)
