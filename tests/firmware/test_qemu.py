"""The firmware's own C++ on an emulated Cortex-M4 (QEMU mps2-an386, newlib semihosting):
the same unit tests as on the host (CRC, framing, self-test PASS/FAIL on the real golden
vectors), cross-compiled and run on the target instruction set."""

from __future__ import annotations

import re
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
         "--specs=rdimon.specs", f"-L{HERE / 'qemu'}", "-T", str(HERE / "qemu" / "mps2_an386.ld"), f"-I{src}",
         str(startup),
         str(HERE / "core_test.cc"), str(src / "jsqat_core.cc"), str(src / "jsqat_selftest.cc"),
         str(src / "golden_data.cc"), "-o", str(elf)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                          "enable=on,target=native", "-kernel", str(elf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "PASS: 0 failure(s)" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("encoding", ["dense", "pruned"])
def test_generated_application_self_test_passes_on_cortex_m4_with_tflm(tmp_path, encoding):
    """The whole generated application (model arrays, resolver, arena sized by the estimator,
    golden vectors, self-test) linked with TFLM built for Cortex-M4, run under QEMU. Opt-in:
    needs TFLM's sources (tests/tflm_targets.py)."""
    from jsqat_embed.training.zoo import pruned_zoo_model
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, run_qemu, tflm_library_or_skip

    tflm, library = tflm_library_or_skip(CORTEX_M4)
    model = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.7)
    out = tmp_path / "fw"
    result = build_project(model, load_board("rpi-pico"), out, build_system="cmake", encoding=encoding, golden=3)
    assert result.encoding.startswith(encoding)
    src = out / "src"
    sources = [p for p in sorted(src.glob("*.cc")) if p.name != "main.cc"] + [HERE / "qemu" / "app_main.cc"]
    elf = link_for_qemu(CORTEX_M4, tflm, library, sources, tmp_path / "app.elf", include=[src])
    run = run_qemu(CORTEX_M4, elf, tmp_path, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "self-test PASS 3/3 bit-exact" in log, log[-3000:]
    assert f"outputs crc32 {result.expected_crc:08x}" in log
    # The arena TFLM really used is the estimate the firmware's arena was sized from (+ margin).
    used = int(re.search(r"arena used (\d+) of", log).group(1))
    assert used == result.fit.arena.total and result.fit.arena.target == "arm32"
