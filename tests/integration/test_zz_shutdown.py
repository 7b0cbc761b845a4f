"""Runs last (file order): stops the ecd of every stack the session started, gracefully,
and checks that each master exits 0 and that no process of any pool wrote a sanitizer
report (the test command runs these tests against the ASan + UBSan build)."""

import re

import pytest

from stack import _tail

REPORT = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                    r"SUMMARY: \w+Sanitizer")


def test_every_pool_stops_cleanly(start_stack):
    stacks = list(start_stack.started)
    if not stacks:
        pytest.skip("no stack ran in this session")
    problems = []
    for st in stacks:
        rc = st.stop_ecd(graceful=True, timeout=20)
        if rc not in (0, None):
            problems.append("%s: ecd exited with %s" % (st.workdir, rc))
        try:
            with open(st.ecd_stderr_path, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if REPORT.search(text):
            problems.append("%s: sanitizer report in %s:\n%s" % (
                st.workdir, st.ecd_stderr_path, _tail(st.ecd_stderr_path, 60)))
    assert not problems, "\n\n".join(problems)
