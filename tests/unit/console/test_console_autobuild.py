"""`crm up` builds the console once when console/dist is missing and npm is present."""
from __future__ import annotations

import crm.console_build as build


def test_built_console_is_left_alone(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("<html></html>")
    monkeypatch.setenv("CRM_CONSOLE_DIST", str(tmp_path))
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    assert build.ensure_console_built() is True


def test_without_npm_it_says_how_to_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRM_CONSOLE_DIST", str(tmp_path / "dist"))
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    assert build.ensure_console_built() is False
    assert "npm ci --prefix console && npm run build --prefix console" in capsys.readouterr().out


def test_with_npm_it_builds_once_and_says_so(tmp_path, monkeypatch, capsys):
    dist = tmp_path / "dist"
    monkeypatch.setenv("CRM_CONSOLE_DIST", str(dist))
    monkeypatch.setattr(build.shutil, "which", lambda name: "/usr/bin/npm")
    calls = []

    class Done:
        returncode = 0

    def fake_run(args, cwd, check):
        calls.append(args[1:])
        if args[1:] == ["run", "build:fast"]:
            dist.mkdir()
            (dist / "index.html").write_text("<html></html>")
        return Done()

    monkeypatch.setattr(build.subprocess, "run", fake_run)
    assert build.ensure_console_built() is True
    assert calls[-1] == ["run", "build:fast"]
    assert "building the web console" in capsys.readouterr().out
    assert build.ensure_console_built() is True and len(calls) <= 2  # not again


def test_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CONSOLE_DIST", str(tmp_path / "dist"))
    monkeypatch.setenv("CRM_CONSOLE_BUILD", "0")
    assert build.ensure_console_built() is False
