"""The paper's grid (backbone x mode x sparsity x regularization x lambda x repeats) as run
directories, run in this process or as Ray tasks.

Configurations that train the same model are run once: modes without stage II
(``baseline``, ``qat``) ignore the sparsity, so they get sparsity 0; lambda 0 makes L1
and L1L2 the same loss, so it gets ``l1``. A run whose directory holds metrics.json is
finished and skipped; a run directory without it is resumed after its last finished
epoch (``jsqat.train_run(resume=True)``), so a sweep can be restarted at will.

On Ray (``run_sweep(..., ray=True)``) every unfinished run is one task with its CPU/GPU
request; a task whose worker dies is retried by Ray (``retries``) and the retry resumes
the run directory. Every run writes into its directory under the sweep's root, which
must be storage every worker sees (one machine, or a shared file system on a cluster);
when a worker's files are not visible to the driver, the task's returned metrics.json
and .tflite are written there by the driver, so the results are gathered in one place.
No TensorFlow in this module: a Ray driver never imports it (runs in this process do, in
``train_run``).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from jsqat_embed.errors import InputDataError, JsqatError
from jsqat_embed.training.config import BACKBONES, MODES, TrainConfig

PRUNING_MODES = ("sat", "jsqat")


@dataclass(frozen=True)
class SweepRun:
    name: str
    directory: Path
    config: TrainConfig

    @property
    def finished(self) -> bool:
        return (self.directory / "metrics.json").exists()


@dataclass
class RunStatus:
    """One row of the sweep's live table."""

    name: str
    directory: str
    status: str  # planned, queued, running, finished, skipped, failed
    stage: str = ""
    epoch: int | None = None
    epochs: int | None = None
    attempts: int = 0
    host: str = ""
    error: str | None = None
    seconds: float | None = None


def parse_values(text: str, option: str, kind=float) -> list:
    """A comma-separated option value, e.g. ``--lambdas 0,0.001``, as a list; clear error otherwise."""
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            values.append(kind(item))
        except ValueError:
            raise InputDataError(f"{option}: {item!r} is not a {kind.__name__} (expected a comma-separated list)") from None
    if not values:
        raise InputDataError(f"{option}: give at least one value")
    return values


def run_name(config: TrainConfig) -> str:
    return (f"{config.backbone}-{config.img_size}-{config.mode}-p{config.sparsity:g}-"
            f"{config.reg if config.lam > 0 else 'none'}-l{config.lam:g}-s{config.seed}")


def plan_sweep(base: TrainConfig, root: str | Path, *, modes: list[str], sparsities: list[float], regs: list[str],
               lambdas: list[float], repeats: int = 1, backbones: list[str] | None = None) -> list[SweepRun]:
    """One run per distinct configuration, in grid order; every configuration is checked first."""
    if repeats < 1:
        raise InputDataError(f"--repeats must be at least 1, got {repeats}")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputDataError(f"--modes: {', '.join(unknown)} not among {', '.join(MODES)}")
    unknown = [b for b in backbones or [] if b not in BACKBONES]
    if unknown:
        raise InputDataError(f"--backbone: {', '.join(unknown)} not among {', '.join(BACKBONES)}")
    runs: dict[str, SweepRun] = {}
    for backbone in backbones or [base.backbone]:
        for mode in modes:
            for sparsity in sparsities:
                for reg in regs:
                    for lam in lambdas:
                        for seed in range(repeats):
                            config = replace(base, backbone=backbone, mode=mode, seed=seed, lam=lam,
                                             sparsity=sparsity if mode in PRUNING_MODES else 0.0,
                                             reg=reg if lam > 0 else "l1")
                            config.check()
                            name = run_name(config)
                            runs.setdefault(name, SweepRun(name, Path(root) / name, config))
    return list(runs.values())


def status_of(run: SweepRun, since: float | None = None) -> RunStatus:
    """What a run directory says about its run: finished, running (stage, epoch) or not started.

    ``since``: attempts that started before it (an earlier sweep) do not make a run "running"."""
    from jsqat_embed.training.jsqat import read_state

    row = RunStatus(run.name, str(run.directory), "finished" if run.finished else "queued")
    state = read_state(run.directory)
    if state is None:
        return row
    row.attempts = len(state.attempts)
    row.host = state.attempts[-1]["host"] if state.attempts else ""
    row.seconds = round(sum(state.seconds.values()), 1)
    if not run.finished and state.attempts and (since is None or state.attempts[-1]["started"] >= since):
        row.status = "running"
    if state.current:
        row.stage, row.epoch, row.epochs = state.current.get("stage", ""), state.current.get("epoch"), state.current.get("epochs")
    elif state.completed and not run.finished:
        row.stage = f"after {state.completed[-1]}"
    return row


def run_sweep(runs: list[SweepRun], *, ray: bool = False, address: str | None = None, cpus_per_run: float = 1.0,
              gpus_per_run: float = 0.0, retries: int = 3, num_cpus: int | None = None,
              on_update: Callable[[list[RunStatus]], None] | None = None,
              poll_seconds: float = 1.0) -> list[RunStatus]:
    """Train every unfinished run (finished ones are skipped); one status per run, in order.

    A run that fails with a JsqatError (bad data, a weights file that does not match) is
    reported ``failed`` and the others go on."""
    if ray:
        return _run_on_ray(runs, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                           retries=retries, num_cpus=num_cpus, on_update=on_update, poll_seconds=poll_seconds)
    return _run_here(runs, on_update)


def _run_here(runs: list[SweepRun], on_update) -> list[RunStatus]:
    from jsqat_embed.training import jsqat

    started = time.time()
    statuses = [_initial(run) for run in runs]

    def refresh(index: int) -> None:
        if on_update is not None:
            statuses[index] = _keep_error(status_of(runs[index], started), statuses[index])
            on_update(list(statuses))

    for index, run in enumerate(runs):
        if run.finished:
            continue
        statuses[index].status = "running"
        refresh(index)
        try:
            jsqat.train_run(run.config, run.directory, resume=run.directory.exists(), progress=lambda _m: refresh(index))
        except JsqatError as exc:
            statuses[index] = replace(status_of(run, started), status="failed", error=str(exc))
        else:
            statuses[index] = status_of(run, started)
        if on_update is not None:
            on_update(list(statuses))
    return statuses


def _initial(run: SweepRun) -> RunStatus:
    row = status_of(run, since=float("inf"))
    if run.finished:
        row.status = "skipped"
    return row


def _keep_error(new: RunStatus, old: RunStatus) -> RunStatus:
    if old.status in ("failed", "skipped"):
        return old
    return new


def _train_task(config_json: dict, directory: str) -> dict:
    """A Ray task: one run, resumed if its directory exists; returns what the driver gathers."""
    from jsqat_embed.training import jsqat

    path = Path(directory)
    metrics = jsqat.train_run(TrainConfig.from_json(config_json), path, resume=path.exists())
    return {"metrics": metrics.to_json(), "tflite_file": metrics.tflite_file,
            "tflite": (path / metrics.tflite_file).read_bytes(), "host": socket.gethostname()}


def _gather(run: SweepRun, result: dict) -> None:
    """Write a remote worker's results into the run directory if its files are not visible here."""
    import json

    if run.finished:
        return
    run.directory.mkdir(parents=True, exist_ok=True)
    (run.directory / result["tflite_file"]).write_bytes(result["tflite"])
    temporary = run.directory / "metrics.json.tmp"
    temporary.write_text(json.dumps(result["metrics"], indent=2))
    temporary.replace(run.directory / "metrics.json")


def _run_on_ray(runs: list[SweepRun], *, address, cpus_per_run, gpus_per_run, retries, num_cpus, on_update,
                poll_seconds) -> list[RunStatus]:
    try:
        import ray
    except ImportError as exc:
        raise JsqatError("--ray needs Ray: pip install 'jsqat-embed[sweep]' (or pip install 'ray>=2.9')") from exc
    started = time.time()
    statuses = [_initial(run) for run in runs]
    todo = [i for i, run in enumerate(runs) if not run.finished]
    if not todo:
        return statuses
    # Ray's driver prints its workers' fates ("A worker died ...") on stdout: keep stdout for
    # the caller's own output (``sweep --json``) and send Ray's lines to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                # address="local": always a new single-machine Ray, never someone else's cluster
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the message says what went wrong
            raise JsqatError(f"cannot start or join Ray{f' at {address}' if address else ''}: {exc}") from exc
        try:
            task = ray.remote(_train_task)
            pending = {}
            for index in todo:
                run = runs[index]
                reference = task.options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=retries,
                                         retry_exceptions=False, name=run.name).remote(run.config.to_json(), str(run.directory))
                pending[reference] = index
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=poll_seconds)
                for reference in done:
                    index = pending.pop(reference)
                    run = runs[index]
                    try:
                        _gather(run, ray.get(reference))
                        statuses[index] = status_of(run, started)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                        statuses[index] = replace(status_of(run, started), status="failed", error=str(cause).strip())
                    except ray.exceptions.RayError as exc:  # worker died more often than retries allow
                        statuses[index] = replace(status_of(run, started), status="failed",
                                                  error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
                for index in pending.values():
                    statuses[index] = status_of(runs[index], started)
                if on_update is not None:
                    on_update(list(statuses))
        finally:
            ray.shutdown()
    return statuses

