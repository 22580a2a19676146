"""Fixtures of the real-peer tests: one fresh shardsfu (workers 2) per test.

Run from the repository root inside a loopback-only namespace:
    scripts/netns .venv/bin/python -m pytest -q tests/peers
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import rtc  # noqa: E402,F401  (patches aioice before any peer exists)
import sfu  # noqa: E402


@pytest.fixture(scope="session")
def built():
    sfu.build()
    return sfu.binary()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "vhost_rtc(text): added to the test server's `vhost __defaultVhost__ { rtc { } }`")


@pytest.fixture
def server(built, request):
    marker = request.node.get_closest_marker("vhost_rtc")
    srv = sfu.Server(workers=2, extra_vhost_rtc=marker.args[0] if marker else "")
    request.node.sfu_server = srv
    yield srv
    code = srv.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "shardsfu log", srv.log_text()[-20000:])
    srv.cleanup()
    # A server that ignored SIGTERM (killed after 5 s) is a finding too.
    assert code in (0, -15, 143), f"shardsfu exited with {code} after SIGTERM\n{srv.log_tail()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

