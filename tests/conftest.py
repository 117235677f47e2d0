import pytest

from tests.support.fake_upstream import FakeUpstream


@pytest.fixture(scope="session")
def _upstream_server():
    up = FakeUpstream().start()
    yield up
    up.stop()


@pytest.fixture
def upstream(_upstream_server):
    """The shared fake provider, reset for each test."""
    _upstream_server.requests.clear()
    _upstream_server.faults.clear()
    _upstream_server.reject_keys.clear()
    _upstream_server.answer = "Hello from the fake upstream."
    return _upstream_server
