"""Runs last (file order): stops the ecd of every stack still running (the session's), and
gathers what stopping the modules' private stacks found (conftest.stop_checked): each master
must exit 0 after a graceful stop, and no process of any pool may have written a sanitizer
report (the test command runs these tests against the ASan + UBSan build)."""

import pytest

from conftest import stop_checked


def test_every_pool_stops_cleanly(start_stack):
    stacks = list(start_stack.started)
    problems = list(start_stack.problems)
    if not stacks and not start_stack.stopped:
        pytest.skip("no stack ran in this session")
    for st in reversed(stacks):
        problems.extend(stop_checked(st))
        start_stack.started.remove(st)
    assert not problems, "\n\n".join(problems)
