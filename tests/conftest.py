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
    _upstream_server.reset()
    return _upstream_server
