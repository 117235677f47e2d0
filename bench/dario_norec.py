"""`python -m dario ...` with telemetry replaced by a no-op recorder: the bench's measure of what
recording costs. Bench-only; dario itself has no such switch."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dario.runtime  # noqa: E402
from dario.pipeline.record import NullRecorder  # noqa: E402

dario.runtime.make_recorder = lambda *a, **kw: NullRecorder()

from dario.cli import main  # noqa: E402

sys.argv[0] = "dario"
main()
