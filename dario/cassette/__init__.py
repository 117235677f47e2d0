"""Record and replay: a run's LLM calls in a cassette file, answered from it later offline.

`format.py` is the file, `match.py` which recorded call a request is, `replay.py` the pipeline's
side (the cassette routes and answers the calls it holds; record taps the upstream answers),
`pytest_plugin.py` the `dario_cassette` fixture. `dario shim|proxy --record/--replay` and
`dario cassette show|diff|redact` are the commands.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CassetteOptions:
    record: str | None = None  # --record FILE
    replay: str | None = None  # --replay FILE
    on_miss: str = "error"  # --on-miss error|passthrough|record
    timing: str = "none"  # --replay-timing recorded|none|xN
    ignore: tuple[str, ...] = ()  # --replay-ignore PATH

    @property
    def active(self) -> bool:
        return bool(self.record or self.replay)


def open_cassette(opts: CassetteOptions | None, secrets: tuple[str, ...]):
    """The run's Cassette, or None; CassetteError for bad options or a bad file."""
    if opts is None or not opts.active:
        return None
    from dario.cassette.format import CassetteError
    from dario.cassette.replay import Cassette
    if opts.record and opts.replay:
        raise CassetteError("--record and --replay are exclusive: replay with --on-miss record to grow a cassette")
    return Cassette(opts.replay or opts.record, replay=bool(opts.replay), on_miss=opts.on_miss, timing=opts.timing,
                    ignore=opts.ignore, secrets=secrets)
