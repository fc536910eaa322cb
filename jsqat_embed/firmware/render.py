"""Jinja2 environments over firmware_templates/, escaping by construction, and safe writing.

Templates stay dumb: StrictUndefined (a missing value is an error, not an
empty string), no arithmetic in templates; every generated file begins with a
banner naming the tool version and the model's SHA-256.

Escaping by construction: each generated file has a target language (C/C++,
CMake, Kconfig, INI, linker script, CSV, YAML), known from its name, and is
rendered by that language's environment. Its ``finalize`` hook sees every
value a template prints:

* :class:`Code` (text the project composed from validated pieces, or the
  output of one of the language's filters below) is placed as is;
* integers are placed as decimals, finite floats with ``repr``;
* any other string is *plain text*: each character outside the language's
  small safe set (no quote, backslash, newline, comment or statement
  delimiter, ``$``...) becomes ``_``, so it can neither end the comment,
  string or argument it sits in nor start code;
* anything else (lists, dicts, objects, NaN) is an error.

Where a position allows more, a template says so with a filter that escapes
for exactly that position (``c_string``, ``c_comment``, ``cmake_quoted``,
``kconfig_string``, ``ini_value``, ``ld_comment``...); the filter returns
:class:`Code`. A template that forgets a filter still gets plain text.
Printed shell commands quote their words with :func:`shell_word`.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path, PurePosixPath

from jsqat_embed import __version__
from jsqat_embed.errors import InputDataError, OutputLocationError


class Code(str):
    """Text that is already valid in its target language: placed verbatim."""


#: characters a plain value may keep, per language; everything else becomes "_"
_PLAIN = {
    "c": re.compile(r"[^A-Za-z0-9 _.,:+=@-]"),  # no "%": "%:" is a digraph of "#"
    "cmake": re.compile(r"[^A-Za-z0-9_.,:+=@/-]"),
    "kconfig": re.compile(r"[^A-Za-z0-9_.,:+@/-]"),
    "ini": re.compile(r"[^A-Za-z0-9 _.,:+@/^~-]"),
    "ld": re.compile(r"[^A-Za-z0-9 _.,:+-]"),
    "csv": re.compile(r"[^A-Za-z0-9_.:+-]"),
    "yaml": re.compile(r"[^A-Za-z0-9 _.,+-]"),
    "text": re.compile(r"[^\x20-\x7e]"),
}
_C_NAMES = (".c", ".cc", ".cpp", ".h", ".hpp", ".ino")


def language_of(name: str) -> str:
    """The target language of a generated file, from its name (``.j2`` stripped)."""
    name = name.removesuffix(".j2")
    base = PurePosixPath(name).name
    if base.endswith(_C_NAMES):
        return "c"
    if base == "CMakeLists.txt" or base.endswith(".cmake"):
        return "cmake"
    if base.startswith("sdkconfig") or base.endswith(".conf"):
        return "kconfig"
    if base.endswith(".ini"):
        return "ini"
    if base.endswith(".ld"):
        return "ld"
    if base.endswith(".csv"):
        return "csv"
    if base.endswith((".yml", ".yaml")):
        return "yaml"
    return "text"


def plain(value: str, language: str) -> str:
    """``value`` with every character unsafe in ``language`` replaced by ``_``."""
    return _PLAIN[language].sub("_", value)


def _printable_ascii(value: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", str(value))


# --- filters: each escapes for one position and returns Code -----------------------

def c_string(value: str) -> Code:
    """A C/C++ string literal, quotes included; non-ASCII as octal escapes of its UTF-8."""
    out = []
    for byte in str(value).encode("utf-8"):
        char = chr(byte)
        if char in '"\\?':  # "?" too: no trigraph can form
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return Code('"' + "".join(out) + '"')


def c_comment(value: str) -> Code:
    """Text for a ``//`` or ``/* */`` comment: one line, printable ASCII, no ``*/``, ``/*``,
    ``\\`` (a line continuation) or ``??`` (``??/`` is a backslash where trigraphs are on)."""
    text = _printable_ascii(value).replace("\\", "/")
    while "*/" in text or "/*" in text or "??" in text:
        text = text.replace("*/", "*_/").replace("/*", "/_*").replace("??", "?_")
    return Code(text)


_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_][A-Za-z0-9_-]*)*\.(?:h|hh|hpp)")


def c_identifier_checked(value: str) -> Code:
    """A C identifier, checked (never rewritten: a wrong name must not silently become another)."""
    if not _C_IDENTIFIER.fullmatch(str(value)):
        raise InputDataError(f"{_shown(value)} is not a C identifier")
    return Code(value)


def c_header(value: str) -> Code:
    """A header name for ``#include <...>``, checked."""
    if not _HEADER.fullmatch(str(value)):
        raise InputDataError(f"{_shown(value)} is not a header file name")
    return Code(value)


def cmake_quoted(value: str) -> Code:
    """A CMake quoted argument: ``\\``, ``"`` and ``$`` escaped, no newline, quotes included."""
    text = _printable_ascii(value)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("@", "\\@")
    return Code('"' + text + '"')


def kconfig_string(value: str) -> Code:
    """A Kconfig/sdkconfig string value, quotes included."""
    text = _printable_ascii(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "_")
    return Code('"' + text + '"')


_INI_VALUE = re.compile(r"[A-Za-z0-9_.:+@/^~-]+(?: [A-Za-z0-9_.:+@/^~-]+)*")


def ini_value(value: str) -> Code:
    """A PlatformIO ini value, checked: no comment, section, interpolation or line break."""
    if not _INI_VALUE.fullmatch(str(value)):
        raise InputDataError(f"{_shown(value)} cannot be an ini value (platformio.ini)")
    return Code(value)


_LD_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def ld_symbol(value: str) -> Code:
    """A linker-script symbol (memory region or section name), checked."""
    if not _LD_SYMBOL.fullmatch(str(value).lstrip(".")):
        raise InputDataError(f"{_shown(value)} is not a linker-script name")
    return Code(value)


def ld_comment(value: str) -> Code:
    """Text inside a linker-script ``/* */`` comment."""
    return c_comment(value)


def shell_word(value) -> str:
    """One word of a printed shell command (POSIX quoting where needed)."""
    return shlex.quote(str(value))


def _shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


FILTERS = {
    "c_string": c_string, "c_comment": c_comment, "c_identifier": c_identifier_checked, "c_header": c_header,
    "cmake_quoted": cmake_quoted, "kconfig_string": kconfig_string,
    "ini_value": ini_value, "ld_symbol": ld_symbol, "ld_comment": ld_comment,
}


def _finalizer(language: str):
    def finalize(value):
        if isinstance(value, Code):
            return value
        if isinstance(value, bool):
            raise InputDataError(f"template printed a boolean ({value}); say what it means in the template")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InputDataError(f"template printed a non-finite number ({value})")
            return repr(value)
        if isinstance(value, str):
            return plain(value, language)
        raise InputDataError(f"template printed a {type(value).__name__}; give it text or a number")

    return finalize


def template_directory() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "data" / "firmware_templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "firmware_templates"


_ENVIRONMENTS: dict[str, object] = {}


def environment(language: str = "c"):
    """The Jinja2 environment for files in ``language`` (see :func:`language_of`)."""
    if language not in _PLAIN:
        raise ValueError(f"no template environment for {language!r}")
    if language not in _ENVIRONMENTS:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_directory())),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            finalize=_finalizer(language),
        )
        env.filters.update(FILTERS)
        _ENVIRONMENTS[language] = env
    return _ENVIRONMENTS[language]


def render_template(name: str, context: dict, *, output_name: str | None = None) -> str:
    """Render template ``name`` in the environment of the file it makes (``output_name``,
    default the template's own name without ``.j2``)."""
    return environment(language_of(output_name or name)).get_template(name).render(context)


def banner(sha256: str) -> Code:
    """The first line of every generated file (a comment in each language)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InputDataError(f"{_shown(sha256)} is not a SHA-256")
    version = re.sub(r"[^A-Za-z0-9.+-]", "_", __version__)
    return Code(f"Generated by jsqat-embed {version} from model sha256 {sha256}. Do not edit.")


def write_files(directory: Path, files: dict[str, str], *, force: bool = False) -> list[Path]:
    """Write ``files`` (names relative to ``directory``) as one group; see :func:`write_group`."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputLocationError(f"cannot create output directory {directory}: {exc.strerror or exc}") from exc
    if not os.access(directory, os.W_OK):
        raise OutputLocationError(f"output directory {directory} is not writable")
    return write_group({directory / name: text for name, text in files.items()}, force=force)


def write_group(files: dict[Path, str | bytes], *, force: bool = False) -> list[Path]:
    """Write several output files as one group, without losing user data.

    Everything is checked first (an existing file is only replaced with
    ``force``; a symbolic link, directory or device never is), then every file
    is written to a temporary name beside its target, and only when all of them
    are complete are they renamed into place, one quick rename each: an
    interrupted or failed run leaves the old files (or none), never one new
    file without its partners and never half a file.
    """
    import stat

    targets = [Path(path) for path in files]
    existing = []
    for target in targets:
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise OutputLocationError(f"cannot write {target}: {exc.strerror or exc} (nothing was written)") from exc
        if stat.S_ISLNK(info.st_mode):
            raise OutputLocationError(f"{target} is a symbolic link; it is never replaced (nothing was written)")
        if not stat.S_ISREG(info.st_mode):
            raise OutputLocationError(f"{target} is not a regular file; nothing was written")
        existing.append(target)
    if existing and not force:
        names = ", ".join(str(t) for t in existing[:4])
        raise OutputLocationError(f"{names} already exist{'s' if len(existing) == 1 else ''}; pass --force to "
                                  "overwrite (nothing was written)")
    temporaries: list[tuple[Path, Path]] = []
    try:
        for target, content in zip(targets, files.values()):
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
            temporaries.append((temporary, target))
            if isinstance(content, str):
                temporary.write_text(content)
            else:
                temporary.write_bytes(content)
        for temporary, target in temporaries:
            os.replace(temporary, target)
    except OSError as exc:
        failed = exc.filename or "the output"
        raise OutputLocationError(f"cannot write {failed}: {exc.strerror or exc}") from exc
    finally:
        for temporary, _ in temporaries:
            if os.path.lexists(temporary):
                os.unlink(temporary)
    return targets
