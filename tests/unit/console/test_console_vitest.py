"""The console's own unit tests (vitest): API client, error mapping, permissions-to-menu,
date and money formatting, locales. Runs `npx vitest run` in console/ and fails with its
output; installs node_modules first when missing. In CI a missing npm is a failure."""
from __future__ import annotations

import pytest

from console_build import ensure_node_modules, run


@pytest.mark.timeout(900)
def test_vitest_suite_passes():
    npm = ensure_node_modules()
    npx = npm[:-3] + "npx" if npm.endswith("npm") else "npx"
    done = run([npx, "vitest", "run", "--reporter=dot"], timeout=600)
    assert "failed" not in done.stdout.lower().split("test files", 1)[-1].split("\n")[0]
