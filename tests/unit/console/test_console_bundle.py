"""The sign-in route loads at most 250 KB of gzipped JavaScript; ECharts stays out of it."""
from __future__ import annotations

import pytest

from console_build import ensure_built, route_sizes

LIMIT = 250 * 1024


@pytest.mark.timeout(900)
def test_sign_in_route_javascript_is_small():
    sizes = route_sizes(ensure_built())
    print(f"\nsign-in route: {sizes['signin_gzip'] / 1024:.1f} KB gzipped "
          f"({', '.join(sizes['signin_files'])}); all JS: {sizes['total_gzip'] / 1024:.1f} KB "
          f"in {sizes['files']} files")
    assert sizes["signin_gzip"] <= LIMIT, sizes
    assert not any("echarts" in name for name in sizes["signin_files"]), sizes["signin_files"]
    assert sizes["files"] > 10  # code-split per route
