"""The op table is consistent: every emulated op has every part, and the parts agree with the code."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.memory import tflm_structs
from jsqat_embed.ops import OPS
from jsqat_embed.tflite import schema

ROOT = Path(__file__).resolve().parents[2]
RESOLVER_HEADER = ROOT.parent / "shared" / "third_party" / "tflite-micro" / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
EMULATED = sorted(name for name, d in OPS.items() if d.emulated)


def test_builtin_names_are_tflite_spellings():
    for name, descriptor in OPS.items():
        if not descriptor.custom:
            assert name in schema.BUILTIN_OPERATORS, name


@pytest.mark.parametrize("name", EMULATED)
def test_emulated_op_has_every_part(name):
    descriptor = OPS[name]
    module = importlib.import_module(f"jsqat_embed.emulator.kernels.{descriptor.kernel}")
    assert issubclass(module.KERNEL, Kernel)
    assert descriptor.memory is not None, f"{name}: no arena rule"
    assert descriptor.resolver.startswith("Add"), name
    assert descriptor.code.reference > 0 and descriptor.code.cmsis_nn > 0
    assert descriptor.code.source == "measured" or descriptor.code.source.startswith("estimate: "), name
    if not descriptor.custom:
        # What TFLM refuses the emulator need not run: emulating more would hide a refusal.
        if descriptor.tflm_dtypes is not None:
            assert set(descriptor.dtypes) <= set(descriptor.tflm_dtypes), f"{name}: emulates types TFLM does not take"
    for check in descriptor.checks:
        assert check.__doc__ and check.__doc__.strip(), f"{name}: a check without its user-facing rule"


@pytest.mark.parametrize("name", EMULATED)
def test_arena_rule_names_structs_the_estimator_knows(name):
    """Every struct an arena rule asks for has a size on every ABI (found by running the rule on its own model)."""
    # The struct names a rule can return appear as string literals in kernel_memory.py; each must be probed.
    from jsqat_embed.memory.kernel_memory import LIBRARY_OPDATA

    # The kernel libraries' own OpData sizes are given as bytes in LIBRARY_OPDATA (with their source), not probed.
    library_structs = {name for _, _, name in LIBRARY_OPDATA.values()}
    source = (ROOT / "jsqat_embed" / "memory" / "kernel_memory.py").read_text()
    names = set(re.findall(r'"((?:OpData|TfLite|Decode|[A-Z][A-Za-z0-9]*(?:OpData|Params|State)[A-Za-z0-9]*)[A-Za-z0-9]*)"', source))
    for abi, table in tflm_structs.STRUCTS.items():
        missing = sorted(n for n in names if n not in table and n not in library_structs)
        assert not missing, f"{abi}: no size for {missing}"


@pytest.mark.skipif(not RESOLVER_HEADER.exists(), reason="TFLM sources (../shared/third_party/tflite-micro) not present")
def test_resolver_methods_exist_in_tflm():
    header = RESOLVER_HEADER.read_text()
    methods = set(re.findall(r"TfLiteStatus (Add\w+)\(", header))
    for name, descriptor in OPS.items():
        assert descriptor.resolver in methods, f"{name}: {descriptor.resolver} is not a MicroMutableOpResolver method"
    builtins = set(re.findall(r"BuiltinOperator_(\w+)", header))
    customs = set(re.findall(r'AddCustom\(\s*"(\w[\w-]*)"', header))
    table_builtins = {n for n, d in OPS.items() if not d.custom}
    table_customs = {n for n, d in OPS.items() if d.custom}
    assert builtins - {"CUSTOM"} == table_builtins, "the table and TFLM's resolver disagree on builtin ops"
    assert customs | {"ethos-u"} == table_customs


def test_docs_support_table_is_generated_from_the_table():
    from scripts.gen_op_docs import render

    assert (ROOT / "docs" / "ops.md").read_text() == render(), "docs/ops.md is stale: run python scripts/gen_op_docs.py"
