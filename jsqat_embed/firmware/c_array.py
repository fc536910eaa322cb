"""The model as C++ source: ``model_data.cc`` / ``model_data.h``.

The array is ``const`` (it stays in flash), ``alignas(16)`` (TFLM reads the
flatbuffer in place), has a length constant, and gets a section attribute when
the placement plan puts the model in external flash. Names from any model file
become valid, non-reserved C identifiers.
"""

from __future__ import annotations

import hashlib
import keyword
import re

from jsqat_embed.firmware.render import Code, banner, render_template

ALIGNMENT = 16
BYTES_PER_LINE = 16
#: section attributes for models placed in external flash, by board id prefix
EXTERNAL_FLASH_SECTIONS = {
    "stm32f746g-disco": '__attribute__((section(".qspi_flash")))',
    "arduino-portenta-h7": '__attribute__((section(".qspi_flash")))',
    "arduino-nicla-vision": '__attribute__((section(".qspi_flash")))',
}
_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "class",
    "namespace", "template", "new", "delete", "this", "operator", "private", "public", "protected", "virtual",
    "alignas", "alignof", "constexpr", "decltype", "nullptr", "bool", "true", "false", "asm", "friend",
}


def c_identifier(name: str, suffix: str = "_model_data") -> str:
    """A valid C/C++ identifier from any string: ``2nd-model (v1).tflite`` -> ``m_2nd_model_v1_model_data``."""
    stem = re.sub(r"\.tflite$", "", name, flags=re.IGNORECASE)
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", stem).strip("_").lower() or "model"
    if cleaned[0].isdigit():
        cleaned = "m_" + cleaned
    # identifiers starting with "__" or "_X" are reserved for the implementation
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    identifier = cleaned + suffix
    if identifier in _C_KEYWORDS or keyword.iskeyword(identifier):
        identifier = "m_" + identifier
    return identifier


def render_model_arrays(data: bytes, model_name: str, *, encoding_summary: str = "dense",
                        board_id: str | None = None, placement: str | None = None,
                        header_name: str = "model_data.h") -> dict[str, str]:
    """{'model_data.cc': ..., 'model_data.h': ...} for ``data``."""
    sha256 = hashlib.sha256(data).hexdigest()
    symbol = c_identifier(model_name)
    section = EXTERNAL_FLASH_SECTIONS.get(board_id or "") if placement == "external_flash" else None
    section = Code(section) if section else None  # composed here from the table above
    hex_lines = [
        ", ".join(f"0x{byte:02x}" for byte in data[i : i + BYTES_PER_LINE]) + ","
        for i in range(0, len(data), BYTES_PER_LINE)
    ]
    context = {
        "banner": banner(sha256),
        "model_name": model_name,  # the template's c_comment filter makes it comment-safe
        "model_bytes": len(data),
        "sha256": sha256,
        "encoding_summary": encoding_summary,
        "symbol": symbol,
        "guard": symbol.upper() + "_H_",
        "alignment": ALIGNMENT,
        "hex_lines": hex_lines,
        "header_name": header_name,
        "section_attribute": section,
        "placement": placement or "internal flash",
    }
    return {
        "model_data.cc": render_template("common/model_data.cc.j2", context),
        header_name: render_template("common/model_data.h.j2", context),
    }
