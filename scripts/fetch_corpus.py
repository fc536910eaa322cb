#!/usr/bin/env python3
"""Re-extract the real-model test corpus (tests/corpus/) from git repositories.

Every entry of ``tests/corpus/manifest.json`` names a public repository, a
commit and a path. This script reads each file out of a local copy of that
repository (a clone or a bare mirror; only ``git`` is needed), checks its
SHA-256 against the manifest and writes it into the corpus folder. Nothing is
downloaded: get the repositories first (``git clone --bare URL``), then point
``--mirrors`` at the folder that holds them.

A repository ``owner/name`` is looked for under each mirror folder as
``owner+name/repo``, ``owner+name``, ``owner/name``, ``owner/name.git``,
``name`` and ``name.git``, in that order.

Examples::

    python scripts/fetch_corpus.py --mirrors /work/.mirror
    python scripts/fetch_corpus.py --mirrors ~/src --only person_detect.tflite
    python scripts/fetch_corpus.py --check        # only verify the files present

Exit status: 0 when every selected entry is present with the right hash,
1 otherwise (each problem is listed on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"


def candidate_dirs(mirror: Path, repo: str) -> list[Path]:
    owner, name = repo.split("/", 1)
    return [
        mirror / f"{owner}+{name}" / "repo",
        mirror / f"{owner}+{name}",
        mirror / owner / name,
        mirror / owner / f"{name}.git",
        mirror / name,
        mirror / f"{name}.git",
    ]


def read_blob(git_dir: Path, commit: str, path: str) -> bytes | None:
    """The file's bytes at ``commit``, or None when this repository lacks them."""
    result = subprocess.run(
        ["git", "-C", str(git_dir), "cat-file", "blob", f"{commit}:{path}"],
        capture_output=True,
    )
    return result.stdout if result.returncode == 0 else None


def extract(entry: dict, mirrors: list[Path]) -> tuple[bytes | None, str]:
    """(bytes, where) from the first mirror that holds the entry's commit and path."""
    tried = []
    for mirror in mirrors:
        for directory in candidate_dirs(mirror, entry["repo"]):
            if not directory.is_dir():
                continue
            tried.append(str(directory))
            data = read_blob(directory, entry["commit"], entry["path"])
            if data is not None:
                return data, str(directory)
    if not tried:
        return None, f"no copy of {entry['repo']} under {', '.join(map(str, mirrors)) or '(no --mirrors)'}"
    return None, f"{entry['commit'][:12]}:{entry['path']} not found in {', '.join(tried)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", action="append", type=Path, default=[],
                        help="folder holding clones or bare mirrors (repeatable)")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help=f"corpus folder holding manifest.json (default {CORPUS})")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="process only these manifest files")
    parser.add_argument("--force", action="store_true", help="re-extract files that are already present and correct")
    parser.add_argument("--check", action="store_true", help="extract nothing; verify the files present")
    args = parser.parse_args(argv)

    manifest = json.loads((args.corpus / "manifest.json").read_text())
    entries = manifest["models"]
    if args.only:
        unknown = set(args.only) - {e["file"] for e in entries}
        if unknown:
            print(f"not in the manifest: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
        entries = [e for e in entries if e["file"] in args.only]

    problems = 0
    written = kept = 0
    for entry in entries:
        target = args.corpus / entry["file"]
        if target.exists() and sha256(target.read_bytes()) == entry["sha256"] and not args.force:
            kept += 1
            continue
        if args.check:
            state = "missing" if not target.exists() else "hash differs"
            print(f"{entry['file']}: {state}", file=sys.stderr)
            problems += 1
            continue
        data, where = extract(entry, args.mirrors)
        if data is None:
            print(f"{entry['file']}: {where}", file=sys.stderr)
            problems += 1
            continue
        if len(data) != entry["bytes"] or sha256(data) != entry["sha256"]:
            print(f"{entry['file']}: {where} gives {len(data)} bytes, sha256 {sha256(data)}; "
                  f"manifest says {entry['bytes']} bytes, sha256 {entry['sha256']}", file=sys.stderr)
            problems += 1
            continue
        target.write_bytes(data)
        written += 1
    print(f"{len(entries)} entries: {written} written, {kept} already correct, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
