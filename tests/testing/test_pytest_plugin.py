"""The public testing API and the pytest plugin's fixture, as a user would use them."""

from __future__ import annotations

import pytest

from jsqat_embed.testing import assert_bit_exact
from jsqat_embed.training.zoo import zoo_model

pytest_plugins = ["pytester"]


def test_assert_bit_exact_passes_on_a_real_model():
    assert_bit_exact(zoo_model("resnet_style", size=32), samples=4)


def test_assert_bit_exact_names_the_first_divergent_operator(monkeypatch):
    from jsqat_embed.emulator import Emulator

    path = zoo_model("resnet_style", size=32)
    emulator = Emulator(path)
    add = next(k for k in emulator.kernels if k.op.opcode == "ADD")
    original = add.eval

    def inverted(inputs):
        (out,) = original(inputs)
        return [(-1 - out.astype("int16")).astype(out.dtype)]  # a broken kernel: every byte wrong

    monkeypatch.setattr(add, "eval", inverted)
    with pytest.raises(AssertionError, match=rf"first divergent operator {add.op.index} \(ADD\)"):
        assert_bit_exact(emulator, samples=2)


def test_readme_example_runs_through_the_plugin(pytester):
    """The README's example, copied out of the README verbatim, beside a real model.tflite."""
    import re
    import shutil
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Bit-exactness in your own pytest", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "bit_exact(" in example and "model.tflite" in example
    shutil.copy(zoo_model("resnet_style", size=32), pytester.path / "model.tflite")
    pytester.makepyfile(test_readme=example)
    result = pytester.runpytest_subprocess()  # the fixture comes from the pytest11 entry point
    result.assert_outcomes(passed=1)
