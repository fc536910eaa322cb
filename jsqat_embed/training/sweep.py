"""The paper's grid (mode x sparsity x regularization x lambda x repeats) as run directories.

Configurations that train the same model are run once: modes without stage II
(``baseline``, ``qat``) ignore the sparsity, so they get sparsity 0; lambda 0
makes L1 and L1L2 the same loss, so it gets ``l1``. A run whose directory holds
metrics.json is finished and skipped; a run directory without it is resumed
after its last finished stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from jsqat_embed.errors import InputDataError
from jsqat_embed.training.jsqat import MODES, TrainConfig

PRUNING_MODES = ("sat", "jsqat")


@dataclass(frozen=True)
class SweepRun:
    name: str
    directory: Path
    config: TrainConfig

    @property
    def finished(self) -> bool:
        return (self.directory / "metrics.json").exists()


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


def plan_sweep(base: TrainConfig, root: str | Path, *, modes: list[str], sparsities: list[float], regs: list[str],
               lambdas: list[float], repeats: int = 1) -> list[SweepRun]:
    """One run per distinct configuration, in grid order; every configuration is checked first."""
    if repeats < 1:
        raise InputDataError(f"--repeats must be at least 1, got {repeats}")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputDataError(f"--modes: {', '.join(unknown)} not among {', '.join(MODES)}")
    runs: dict[str, SweepRun] = {}
    for mode in modes:
        for sparsity in sparsities:
            for reg in regs:
                for lam in lambdas:
                    for seed in range(repeats):
                        config = replace(base, mode=mode, seed=seed, lam=lam,
                                         sparsity=sparsity if mode in PRUNING_MODES else 0.0,
                                         reg=reg if lam > 0 else "l1")
                        config.check()
                        name = (f"{config.backbone}-{config.img_size}-{mode}-p{config.sparsity:g}-"
                                f"{config.reg if lam > 0 else 'none'}-l{lam:g}-s{seed}")
                        runs.setdefault(name, SweepRun(name, Path(root) / name, config))
    return list(runs.values())
