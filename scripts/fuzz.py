"""The long fuzz run over the model pipeline and the board loader (docs/robustness.md).

    .venv/bin/python scripts/fuzz.py --cases 100000 [--seed 1] [--workers 2]

    .venv/bin/python scripts/fuzz.py --differential --cases 5000 [--seed 1]

Case i of run S is the same everywhere (tests/fuzz/harness.py: numbered_case), so a
finding is replayed with ``--seed S --first i --cases 1``. Findings are saved under
tests/fuzz/regressions/ (replayed by tests/fuzz/test_fuzz.py) and listed in
``--findings``. Exit status 1 when anything was found.

``--differential`` runs the mutated models the emulator accepts in the real TFLM too (the
tflite-micro wheel, in a forked child restarted when TFLM aborts) on the same random inputs
and compares the outputs byte for byte; a difference is a *mismatch* finding. Models TFLM
refuses, aborts on or hangs on while the emulator runs them are counted and listed (once
per kind) as notes: the emulator should ideally refuse them too.
"""

from __future__ import annotations

import argparse
import collections
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.harness import (  # noqa: E402
    CASE_BYTES,
    CASE_SECONDS,
    TflmWorker,
    Worker,
    compare_outputs,
    differential_seeds,
    save_regression,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="number of cases")
    parser.add_argument("--seed", type=int, default=1, help="run seed: case i of run S is always the same input")
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (one case at a time each)")
    parser.add_argument("--seconds", type=float, default=CASE_SECONDS, help="wall-clock limit of one case")
    parser.add_argument("--memory-mib", type=int, default=CASE_BYTES >> 20,
                        help="address space one case may add to its worker, MiB")
    parser.add_argument("--findings", type=Path, default=Path("/tmp/fuzz_findings.md"),
                        help="markdown list the findings are appended to")
    parser.add_argument("--no-save", action="store_true", help="do not write regression files")
    parser.add_argument("--progress", type=int, default=5000, help="print a line every this many cases")
    parser.add_argument("--differential", action="store_true",
                        help="run each model the emulator accepts in the real TFLM too and compare outputs")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.workers < 1 or not args.seconds > 0 or args.memory_mib < 64:
        parser.error("--cases, --workers, --seconds and --memory-mib must be positive (--memory-mib at least 64)")
    if args.differential:
        return differential(args)

    lock = threading.Lock()
    next_case = iter(range(args.first, args.first + args.cases))
    counts: collections.Counter = collections.Counter()
    findings: list[str] = []
    signatures: set[tuple] = set()
    slowest = [0.0, -1]
    started = time.monotonic()

    def drive() -> None:
        worker = Worker(args.seconds, args.memory_mib << 20)
        try:
            while True:
                with lock:
                    index = next(next_case, None)
                if index is None:
                    return
                outcome, case = worker.run_numbered(args.seed, index)
                with lock:
                    counts["cases"] += 1
                    counts[outcome.verdict] += 1
                    if outcome.seconds > slowest[0]:
                        slowest[:] = [outcome.seconds, index]
                    if outcome.finding:
                        kind, name, data = case
                        # one regression file per kind of finding (where it failed, and how)
                        signature = (outcome.verdict, outcome.stage, outcome.where, outcome.detail.split(":")[0])
                        fresh = signature not in signatures
                        signatures.add(signature)
                        saved = (save_regression(kind, data, outcome, args.findings)
                                 if fresh and not args.no_save else "not saved: seen before" if not fresh else None)
                        findings.append(f"case {index} ({kind}, seed {name}): {outcome.verdict} at {outcome.stage}: "
                                        f"{outcome.detail} [{outcome.where}] -> {saved}")
                        print(findings[-1], flush=True)
                    if counts["cases"] % args.progress == 0:
                        elapsed = time.monotonic() - started
                        print(f"{counts['cases']:,} cases, {elapsed:,.0f} s, {counts['cases'] / elapsed:.1f} cases/s, "
                              f"{len(findings)} findings", flush=True)
        finally:
            worker.close()

    threads = [threading.Thread(target=drive) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"run seed {args.seed}, cases {args.first:,}..{args.first + args.cases - 1:,}: {counts['cases']:,} cases "
          f"in {elapsed:,.0f} s ({counts['cases'] / elapsed:.1f} cases/s, {args.workers} worker(s)); "
          f"findings {len(findings)} of {len(signatures)} kinds ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()) if k not in ('cases', 'ok')) or 'none'}); "
          f"slowest case {slowest[0]:.2f} s (case {slowest[1]}); largest worker RSS {peak:,.0f} MiB")
    return 1 if findings else 0


def differential(args) -> int:
    """The --differential run: emulator and TFLM on every accepted mutated model."""
    seeds, convolutions, others = differential_seeds()  # before forking: every worker inherits them
    print(f"differential seeds: {len(convolutions)} with a convolution ({', '.join(convolutions)}), "
          f"{len(others)} others", flush=True)
    lock = threading.Lock()
    next_case = iter(range(args.first, args.first + args.cases))
    counts: collections.Counter = collections.Counter()
    findings: list[str] = []
    notes: dict[tuple, list] = {}
    signatures: set[tuple] = set()
    started = time.monotonic()

    def drive() -> None:
        worker, tflm = Worker(args.seconds, args.memory_mib << 20), TflmWorker(args.seconds, args.memory_mib << 20)
        try:
            while True:
                with lock:
                    index = next(next_case, None)
                if index is None:
                    return
                outcome, case = worker.run_differential(args.seed, index)
                verdict, detail = outcome.verdict, outcome.detail
                if not outcome.finding and outcome.arrays is not None:
                    inputs, ours = outcome.arrays
                    answer, value = tflm.run(case[2], inputs)
                    if answer == "ok":
                        detail = compare_outputs(ours, value)
                        verdict = "mismatch" if detail else "match"
                    else:
                        verdict, detail = f"tflm-{answer}", value
                elif not outcome.finding:
                    verdict = "refused"
                with lock:
                    counts["cases"] += 1
                    counts[verdict] += 1
                    if outcome.finding or verdict == "mismatch":
                        kind, name, data = case
                        signature = (verdict, outcome.stage, outcome.where, detail.split(":")[0], name)
                        fresh = signature not in signatures
                        signatures.add(signature)
                        outcome.verdict, outcome.detail = verdict, detail
                        saved = (save_regression(kind, data, outcome, args.findings)
                                 if fresh and not args.no_save else "not saved: seen before" if not fresh else None)
                        findings.append(f"case {index} ({name}): {verdict} at {outcome.stage}: {detail} "
                                        f"[{outcome.where}] -> {saved}")
                        print(findings[-1], flush=True)
                    elif verdict.startswith("tflm-"):
                        key = (verdict, detail.split("|")[-1].strip()[:80])
                        if key not in notes:
                            print(f"note: case {index} ({case[1]}): emulator ran it, {verdict}: {detail}", flush=True)
                        notes.setdefault(key, []).append(index)
                    if counts["cases"] % args.progress == 0:
                        elapsed = time.monotonic() - started
                        print(f"{counts['cases']:,} cases, {elapsed:,.0f} s, {counts['cases'] / elapsed:.1f} cases/s, "
                              f"{counts['match']} compared equal, {len(findings)} findings", flush=True)
        finally:
            worker.close()
            tflm.close()

    threads = [threading.Thread(target=drive) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for (verdict, detail), cases in sorted(notes.items(), key=lambda item: -len(item[1])):
        print(f"note: {len(cases)} case(s) {verdict} ({detail}), e.g. case {cases[0]}")
    print(f"differential run seed {args.seed}, cases {args.first:,}..{args.first + args.cases - 1:,}: "
          f"{counts['cases']:,} cases in {elapsed:,.0f} s ({counts['cases'] / elapsed:.1f} cases/s, "
          f"{args.workers} worker(s)); {', '.join(f'{k} {v}' for k, v in sorted(counts.items()) if k != 'cases')}; "
          f"findings {len(findings)} of {len(signatures)} kinds")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
