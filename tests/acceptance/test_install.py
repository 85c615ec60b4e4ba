"""Getting ``tether`` on PATH the way a Python user expects, and ``make run`` without test tools.

The real installers (pipx, uv) are stood in for by scripts that record their
argv; the venv fallback is shown by make's dry run (a real one builds the
package and its dependencies: minutes, not seconds).
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _make(*args: str, path: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "HOME": str(home)}
    return subprocess.run(
        ["make", "-C", str(REPO), "--no-print-directory", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _fake(bin_dir: Path, name: str, log: Path) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("tools", "expected"),
    [(("pipx", "uv"), "pipx install --force ."), (("uv",), "uv tool install --force .")],
)
def test_make_install_uses_pipx_or_uv(
    tmp_path: Path, tools: tuple[str, ...], expected: str
) -> None:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for tool in tools:
        _fake(bin_dir, tool, log)
    done = _make("install", path=f"{bin_dir}:/usr/bin:/bin", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [expected]
    assert f"add {tmp_path}/.local/bin to your PATH" in done.stdout


def test_make_install_without_pipx_or_uv_links_a_venv_into_local_bin(tmp_path: Path) -> None:
    done = _make("-n", "install", path="/usr/bin:/bin", home=tmp_path)
    assert done.returncode == 0, done.stderr
    app = f"{tmp_path}/.local/share/tether/venv"
    assert f"-m venv {app}" in done.stdout
    assert f"{app}/bin/python -m pip install -q --upgrade ." in done.stdout
    assert f"ln -sf {app}/bin/tether {tmp_path}/.local/bin/tether" in done.stdout


def test_make_run_installs_no_test_tools(tmp_path: Path) -> None:
    done = _make("-n", "-B", "run", path=os.environ["PATH"], home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pip install -q -e ." in done.stdout
    assert "[test]" not in done.stdout and "tether serve" in done.stdout
