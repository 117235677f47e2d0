import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.shim import configure


@pytest.fixture(scope="session")
def _upstream_server():
    up = FakeUpstream().start()
    yield up
    up.stop()


@pytest.fixture
def upstream(_upstream_server):
    """The shared fake provider, reset for each test."""
    _upstream_server.reset()
    return _upstream_server


@pytest.fixture
def proxy(upstream):
    """A real dario proxy in this process (keyless, loopback), its records in `.records`."""
    from tests.support.dario_proxy import start_proxy
    server, rec = start_proxy(upstream.url)
    server.records = rec.records
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path, upstream):
    """A DARIO_HOME whose backends (anthropic, openai, oai) are all served by the fake upstream."""
    h = tmp_path / "home"
    h.mkdir()
    configure(h, upstream.url)
    return h
