"""The package installs from every route: sdist, a wheel built from the sdist, no extras.

Builds the sdist from this checkout, builds the wheel *from that sdist* (what
``python -m build`` and pip do), installs it into a fresh venv with no extras, and
runs the core commands from outside the clone: the bundled boards and firmware
templates must be inside the package, and nothing in the core may need an extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

# make test runs on several workers: this file's module fixtures are costly, keep its tests on one
pytestmark = pytest.mark.xdist_group("test_packaging")

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo_mobilenetv2_a035_96.tflite"


def _run(command, cwd, **kwargs):
    result = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    pytest.importorskip("build", reason="the 'build' package (dev extra) makes the sdist")
    work = tmp_path_factory.mktemp("packaging")
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--sdist", "-o", dist, ROOT], cwd=work)
    (sdist,) = dist.glob("*.tar.gz")
    _run([sys.executable, "-m", "build", "--wheel", "-o", dist, sdist], cwd=work)
    (wheel,) = dist.glob("*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    _run([venv / "bin" / "pip", "install", "--quiet", wheel], cwd=work)
    return {"sdist": sdist, "wheel": wheel, "bin": venv / "bin", "work": work}


def test_sdist_and_wheel_hold_the_boards_and_templates(installed):
    boards = sorted(p.name for p in (ROOT / "boards").glob("*.toml"))
    templates = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "firmware_templates").rglob("*") if p.is_file())
    with tarfile.open(installed["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {f"boards/{b}" for b in boards} <= names
    assert set(templates) <= names
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert {f"jsqat_embed/data/boards/{b}" for b in boards} <= names
    assert {f"jsqat_embed/data/{t}" for t in templates} <= names


def test_core_commands_run_from_outside_the_clone_without_extras(installed):
    cli = installed["bin"] / "jsqat-embed"
    work = installed["work"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    freeze = _run([installed["bin"] / "pip", "freeze"], cwd=work, env=env).stdout.lower()
    assert "tensorflow" not in freeze and "tflite-micro" not in freeze
    assert "esp32s3" in _run([cli, "boards"], cwd=work, env=env).stdout
    _run([cli, "inspect", DEMO], cwd=work, env=env)
    fit = subprocess.run([cli, "fit-check", DEMO, "--board", "esp32s3"], cwd=work, env=env, capture_output=True, text=True)
    assert fit.returncode in (0, 1), fit.stderr
    _run([cli, "compress", DEMO, "-o", work / "compressed.tflite"], cwd=work, env=env)
    _run([cli, "build", DEMO, "--board", "esp32s3", "-o", work / "project"], cwd=work, env=env)
    assert (work / "project" / "CMakeLists.txt").exists()
