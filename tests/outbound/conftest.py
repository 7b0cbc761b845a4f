"""tests/outbound/conftest.py: the host's signers and HTTP client, driven through the
`ec_sign` command (tests/outbound/ec_sign.c), against the clouds' own Python packages and the
loopback fake marketplaces of tests/fakes/.

Environment:
  EC_BUILDDIR   where the test programs are built (default: <root>/build-san)

Fixtures:
  ec_sign       ec_sign(request or [requests]) -> the answer(s) as JSON values

The fakes (tests/fakes/) are imported as `fakes.<module>`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def ec_sign():
    build = Path(os.environ.get("EC_BUILDDIR", ROOT / "build-san"))
    tool = build / "tests" / "outbound" / "ec_sign"
    if not tool.exists():
        pytest.fail(f"{tool} is not built (script/build {build} builds it)")

    def run(request):
        done = subprocess.run([str(tool)], input=json.dumps(request).encode(),
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)

    return run
