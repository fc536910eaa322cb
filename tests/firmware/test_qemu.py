"""The firmware's own C++ on an emulated Cortex-M4 (QEMU mps2-an386, newlib semihosting):
the same unit tests as on the host (CRC, framing, self-test PASS/FAIL on the real golden
vectors), cross-compiled and run on the target instruction set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jsqat_embed.boards import load_board
from jsqat_embed.firmware.project import build_project
from jsqat_embed.training.zoo import zoo_model

HERE = Path(__file__).resolve().parent
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O1"]


def test_core_unit_tests_pass_on_cortex_m4_under_qemu(tmp_path):
    missing = [tool for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "qemu-system-arm") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make toolchains installs them where apt-get is available)")
    out = tmp_path / "fw"
    build_project(zoo_model("resnet_style", size=32), load_board("nano33ble"), out, build_system="cmake", golden=4)
    src = out / "src"
    startup = tmp_path / "startup.o"
    subprocess.run(["arm-none-eabi-gcc", *FLAGS, "-c", str(HERE / "qemu" / "startup.c"), "-o", str(startup)],
                   check=True, capture_output=True, text=True)
    elf = tmp_path / "core_test.elf"
    compiled = subprocess.run(
        ["arm-none-eabi-g++", *FLAGS, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti",
         "--specs=rdimon.specs", "-T", str(HERE / "qemu" / "mps2_an386.ld"), f"-I{src}", str(startup),
         str(HERE / "core_test.cc"), str(src / "jsqat_core.cc"), str(src / "jsqat_selftest.cc"),
         str(src / "golden_data.cc"), "-o", str(elf)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                          "enable=on,target=native", "-kernel", str(elf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "PASS: 0 failure(s)" in run.stdout, run.stdout + run.stderr
