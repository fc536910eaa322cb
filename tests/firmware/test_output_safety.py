"""`build -o DIR [--force]` never loses a user's file: new and empty directories get the
project renamed into place whole; --force replaces only the unchanged files that
jsqat-embed's own manifest lists; files, links, foreign directories and edited files
are refused with the reason; "build even if it does not fit" is --ignore-fit."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.boards import load_board
from jsqat_embed.boards.profile import MemoryRegion
from jsqat_embed.cli.main import create_app
from jsqat_embed.errors import DoesNotFitError, OutputLocationError
from jsqat_embed.firmware import project
from jsqat_embed.firmware.project import MANIFEST, build_project, with_manifest, write_project
from jsqat_embed.training.zoo import zoo_model


def _project(**texts: str) -> dict[str, str]:
    files = {"CMakeLists.txt": "cmake\n", "src/app.cc": "app\n", "src/model_data.cc": "model\n"}
    files.update({name.replace("__", "/"): text for name, text in texts.items()})
    return with_manifest(files, {"board": "test"})


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_new_directory_gets_the_whole_project_with_normal_permissions(tmp_path):
    out = tmp_path / "fw"
    files = _project()
    write_project(out, files)
    assert _tree(out) == files
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask(), "not 0700: the user's umask decides"
    assert stat.S_IMODE((out / "src").stat().st_mode) == 0o777 & ~_umask()
    assert stat.S_IMODE((out / "src" / "app.cc").stat().st_mode) == 0o666 & ~_umask()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["tool"] == "jsqat-embed" and set(manifest["files"]) == set(files) - {MANIFEST}
    assert [p.name for p in tmp_path.iterdir()] == ["fw"], "staging directory left behind"


def test_an_existing_empty_directory_is_used(tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    write_project(out, _project())
    assert (out / "src" / "app.cc").read_text() == "app\n"


@pytest.mark.parametrize("force", [False, True])
def test_a_file_or_a_symlink_is_never_replaced(tmp_path, force):
    regular = tmp_path / "fw"
    regular.write_text("my notes")
    with pytest.raises(OutputLocationError, match="is not a directory; it is never replaced"):
        write_project(regular, _project(), force=force)
    assert regular.read_text() == "my notes"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    with pytest.raises(OutputLocationError, match="symbolic link"):
        write_project(link, _project(), force=force)
    assert link.is_symlink() and list(elsewhere.iterdir()) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputLocationError, match="symbolic link"):
        write_project(dangling, _project(), force=force)
    assert not (tmp_path / "nowhere").exists()


def test_force_refuses_a_directory_jsqat_embed_did_not_build(tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputLocationError, match="not empty; pass --force"):
        write_project(out, _project())
    with pytest.raises(OutputLocationError, match=f"not a project jsqat-embed built \\(no {MANIFEST}\\)"):
        write_project(out, _project(), force=True)
    (out / MANIFEST).write_text(json.dumps({"generator": "other-tool 1.0", "files": {"thesis.tex": "0" * 64}}))
    with pytest.raises(OutputLocationError, match="no jsqat-embed file list"):
        write_project(out, _project(), force=True)
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(OutputLocationError, match="not readable JSON"):
        write_project(out, _project(), force=True)
    assert (out / "thesis.tex").read_text() == "years of work"


def test_force_replaces_only_unchanged_generated_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "fw"
    write_project(out, _project(src__old_only_cc="generated once\n"))
    (out / "README.mine").write_text("mine")
    (out / "src" / "my_uart.cc").write_text("my driver")
    with pytest.raises(OutputLocationError, match="not empty; pass --force"):
        write_project(out, _project(src__app_cc="app v2\n"))
    new = _project(**{"src__app.cc": "app v2\n", "main__extra.cc": "new file\n"})
    write_project(out, new, force=True)
    tree = _tree(out)
    assert tree["README.mine"] == "mine" and tree["src/my_uart.cc"] == "my driver"
    assert tree["src/app.cc"] == "app v2\n" and tree["main/extra.cc"] == "new file\n"
    assert "src/old_only_cc" not in tree, "a generated file of the last build, unchanged, is ours to remove"
    assert json.loads(tree[MANIFEST])["files"] == json.loads(new[MANIFEST])["files"]
    assert "replacing" not in json.loads(tree[MANIFEST])


def test_force_refuses_to_overwrite_an_edited_or_a_foreign_file(tmp_path):
    out = tmp_path / "fw"
    write_project(out, _project())
    (out / "src" / "app.cc").write_text("my edits")
    with pytest.raises(OutputLocationError, match=r"src/app.cc in .* changed since jsqat-embed generated it"):
        write_project(out, _project(**{"src__app.cc": "app v2\n"}), force=True)
    assert (out / "src" / "app.cc").read_text() == "my edits"
    (out / "src" / "app.cc").write_text("app\n")
    (out / "src" / "golden.cc").write_text("my own golden file")
    with pytest.raises(OutputLocationError, match="has your own src/golden.cc where the project goes"):
        write_project(out, _project(**{"src__golden.cc": "generated\n"}), force=True)
    assert (out / "src" / "golden.cc").read_text() == "my own golden file"
    assert (out / "src" / "app.cc").read_text() == "app\n", "a refusal writes nothing"


def test_force_never_follows_a_link_inside_the_project(tmp_path):
    out = tmp_path / "fw"
    write_project(out, _project())
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "app.cc").write_text("app\n")  # same content as the generated file: still not ours
    for child in (out / "src").iterdir():
        child.unlink()
    (out / "src").rmdir()
    (out / "src").symlink_to(victim)
    with pytest.raises(OutputLocationError, match="symbolic link where the project needs a folder"):
        write_project(out, _project(**{"src__app.cc": "app v2\n"}), force=True)
    assert (victim / "app.cc").read_text() == "app\n"
    (out / "src").unlink()
    (out / "src").mkdir()
    (out / "src" / "app.cc").symlink_to(victim / "app.cc")
    with pytest.raises(OutputLocationError, match="is a symbolic link; it is never replaced"):
        write_project(out, _project(**{"src__app.cc": "app v2\n"}), force=True)
    assert (victim / "app.cc").read_text() == "app\n"


@pytest.mark.parametrize("listed", ["../victim.txt", "/etc/passwd", "src/../../victim.txt", ""])
def test_a_hostile_manifest_cannot_point_outside_the_project(tmp_path, listed):
    out = tmp_path / "fw"
    write_project(out, _project())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"][listed] = project._sha256("precious")
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(OutputLocationError, match="not a file inside the project"):
        write_project(out, _project(), force=True)
    assert victim.read_text() == "precious"


def test_an_interrupted_replacement_can_be_forced_again(tmp_path, monkeypatch):
    out = tmp_path / "fw"
    write_project(out, _project())
    (out / "mine.txt").write_text("mine")
    new = _project(**{"src__app.cc": "app v2\n", "CMakeLists.txt": "cmake v2\n"})
    real_replace, calls = os.replace, []

    def dying_replace(source, target):
        calls.append(target)
        if len(calls) == 3:  # the interim manifest and one file are in place
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(project.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        write_project(out, new, force=True)
    monkeypatch.undo()
    newer = _project(**{"src__app.cc": "app v3\n", "CMakeLists.txt": "cmake v3\n"})
    write_project(out, newer, force=True)  # half old, half new: both generations are ours
    tree = _tree(out)
    assert tree["src/app.cc"] == "app v3\n" and tree["CMakeLists.txt"] == "cmake v3\n" and tree["mine.txt"] == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fw.")]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    return zoo_model("resnet_style", size=32)


def _tiny_board():
    """rpi-pico with 16 KB of SRAM: the small model's arena does not fit."""
    pico = load_board("rpi-pico")
    regions = tuple(MemoryRegion(r.name, r.kind, 16384, 0, origin=r.origin) if r.kind == "sram" else r
                    for r in pico.regions)
    return dataclasses.replace(pico, regions=regions)


def test_force_does_not_mean_ignore_fit(tmp_path, small_model):
    board, out = _tiny_board(), tmp_path / "fw"
    with pytest.raises(DoesNotFitError, match="does not fit"):
        build_project(small_model, board, out, build_system="cmake", golden=1, force=True)
    assert not out.exists()
    result = build_project(small_model, board, out, build_system="cmake", golden=1, ignore_fit=True)
    assert not result.fit.fits and (out / MANIFEST).is_file()
    (out / "mine.txt").write_text("mine")
    build_project(small_model, board, out, build_system="pico-sdk", golden=2, ignore_fit=True, force=True)
    assert (out / "mine.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST).read_text())["build_system"] == "pico-sdk"
    assert not (out / "src").exists(), "the cmake build's generated files (unchanged) were removed"


def test_cli_build_refusals_are_one_line_and_exit_2(tmp_path, small_model):
    runner = CliRunner()
    blocker = tmp_path / "fw"
    blocker.write_text("mine")
    result = runner.invoke(create_app(), ["build", str(small_model), "-b", "pico", "-o", str(blocker), "--force"])
    assert result.exit_code == 2
    assert result.output == f"error: {blocker} exists and is not a directory; it is never replaced (nothing was written)\n"
    assert blocker.read_text() == "mine"
    result = runner.invoke(create_app(), ["build", str(small_model), "-b", "pico", "-o", str(tmp_path / "x"),
                                          "--golden", "0"])
    assert result.exit_code == 2 and result.output == "error: --golden 0: choose 1 to 10,000\n"
    result = runner.invoke(create_app(), ["build", str(small_model), "-b", "pico", "-o", str(tmp_path / "x"),
                                          "--golden", "100000000"])
    assert result.exit_code == 2 and result.output == "error: --golden 100000000: choose 1 to 10,000\n"


def test_an_empty_directory_that_cannot_be_renamed_over_is_filled(tmp_path, monkeypatch):
    """A mount point (or a folder we may not replace) cannot be renamed over: the project
    is copied into it instead, the manifest last."""
    import errno

    out = tmp_path / "mnt"
    out.mkdir()

    def busy(source, target):
        raise OSError(errno.EBUSY, "Device or resource busy", str(target))

    monkeypatch.setattr(project.os, "rename", busy)
    files = _project()
    write_project(out, files)
    assert _tree(out) == files
    assert [p.name for p in tmp_path.iterdir()] == ["mnt"]
