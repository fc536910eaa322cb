"""``jsqat-embed train``, ``sweep`` and ``report``: JSQAT training runs and the paper's tables.

TensorFlow is imported inside ``train`` (and by ``sweep``'s in-process runs) only; the
option defaults are the paper's (jsqat_embed/training/config.py says where each comes from).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_BAD_INPUT, print_json, user_errors

# Options train and sweep share: one definition each, so the two commands cannot drift apart.
DATA = typer.Option(..., "--data", help="BreakHis folder (BreaKHis_v1/...) or, with --dataset folders, one folder per class.")
IMG_SIZE = typer.Option(224, "--img-size", help="Input height and width (paper: 224).")
ALPHA = typer.Option(0.35, "--alpha", help="MobileNetV2 width multiplier.")
EPOCHS = typer.Option(50, "--epochs", help="Epochs of each stage (paper: 50).")
HEAD_EPOCHS = typer.Option(1, "--head-epochs", help="Epochs with only the new head trainable before unfreezing (0: none).")
HEAD = typer.Option("paper", "--head", help="paper: pooling, Dense(1072, ReLU), softmax (the paper's parameter counts); gap: pooling and softmax only (MCU-sized).")
HEAD_UNITS = typer.Option(1072, "--head-units", help="Hidden units of the paper head.")
UNFREEZE = typer.Option("paper", "--unfreeze", help="paper: VGG19 from block5_conv2, ResNet-50 from conv5_block2_2_bn (other backbones: --trainable-fraction); fraction; or a layer name to train from.")
TRAINABLE_FRACTION = typer.Option(0.3, "--trainable-fraction", help="Share of parameters unfrozen when no boundary layer applies.")
BATCHNORM = typer.Option("train", "--batchnorm", help="train: unfrozen batch-norm layers train (paper); freeze: they keep ImageNet statistics.")
QUANTIZE = typer.Option("trainable", "--quantize", help="trainable: QAT and int8 for the trained layers only, frozen backbone float32 (paper); all: full int8 (MCU).")
SAT_EXPORT = typer.Option("float", "--sat-export", help="What a SAT run exports: float (paper) or int8 (post-training quantization).")
AUGMENT = typer.Option("none", "--augment", help="none (paper) or basic (flips, 90-degree turns, mild colour jitter).")
LR_HEAD = typer.Option(1e-3, "--lr-head", help="Learning rate of the head-only epochs.")
LR_STAGE1 = typer.Option(1e-4, "--lr-stage1", help="Learning rate of stage I (transfer learning).")
LR_STAGE2 = typer.Option(1e-4, "--lr-stage2", help="Learning rate of stage II (pruning).")
LR_STAGE3 = typer.Option(1e-5, "--lr-stage3", help="Learning rate of stage III (quantization-aware training).")
BATCH_SIZE = typer.Option(16, "--batch-size", help="Batch size.")
WEIGHTS = typer.Option("imagenet", "--weights", help="imagenet (downloaded by Keras), none, or a local weights file (.h5 or Keras 3 .keras) of the backbone; every backbone layer must match.")
MAGNIFICATION = typer.Option("40", "--magnification", help="BreakHis magnification: 40, 100, 200, 400 or all.")
DATASET = typer.Option("breakhis", "--dataset", help="breakhis or folders.")
SPLIT = typer.Option("patient", "--split", help="patient (no patient in two splits, default) or image (to compare with the paper, which states none).")


def _config(**values):
    from jsqat_embed.training.config import TrainConfig

    return TrainConfig(**values)


def train_command(
    data: Path = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Run directory (checkpoints, the .tflite, metrics.json)."),
    backbone: str = typer.Option("mobilenetv2", "--backbone", help="vgg19, resnet50 (the paper's), densenet121 or mobilenetv2."),
    img_size: int = IMG_SIZE,
    alpha: float = ALPHA,
    mode: str = typer.Option("jsqat", "--mode", help="baseline, qat, sat or jsqat."),
    sparsity: float = typer.Option(0.5, "--sparsity", help="Layer-wise target sparsity of stage II (0.5, 0.7, 0.9)."),
    reg: str = typer.Option("l1", "--reg", help="l1 (lambda1 = lambda, lambda2 = 0) or l1l2 (both = lambda)."),
    lam: float = typer.Option(0.001, "--lambda", help="Regularization strength (paper: 0, .001, .005, .01, .05)."),
    epochs: int = EPOCHS,
    head_epochs: int = HEAD_EPOCHS,
    head: str = HEAD,
    head_units: int = HEAD_UNITS,
    unfreeze: str = UNFREEZE,
    trainable_fraction: float = TRAINABLE_FRACTION,
    batchnorm: str = BATCHNORM,
    quantize: str = QUANTIZE,
    sat_export: str = SAT_EXPORT,
    augment: str = AUGMENT,
    lr_head: float = LR_HEAD,
    lr_stage1: float = LR_STAGE1,
    lr_stage2: float = LR_STAGE2,
    lr_stage3: float = LR_STAGE3,
    batch_size: int = BATCH_SIZE,
    weights: str = WEIGHTS,
    magnification: str = MAGNIFICATION,
    dataset: str = DATASET,
    split_by: str = SPLIT,
    seed: int = typer.Option(0, "--seed", help="Seed of splits, initialization and shuffling."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run: finished stages are kept, the interrupted one restarts after its last finished epoch."),
    json_output: bool = typer.Option(False, "--json", help="Print metrics.json instead of a summary."),
) -> None:
    """Train a JSQAT model (transfer learning, pruning, prune-preserving QAT) and export a .tflite."""
    config = _config(data=str(data), backbone=backbone, img_size=img_size, alpha=alpha, mode=mode, sparsity=sparsity,
                     reg=reg, lam=lam, epochs=epochs, head_epochs=head_epochs, head=head, head_units=head_units,
                     unfreeze=unfreeze, trainable_fraction=trainable_fraction, batchnorm=batchnorm, quantize=quantize,
                     sat_export=sat_export, augment=augment, lr_head=lr_head, lr_stage1=lr_stage1,
                     lr_stage2=lr_stage2, lr_stage3=lr_stage3, batch_size=batch_size, weights=weights,
                     magnification=magnification, dataset=dataset, split_by=split_by, seed=seed)
    with user_errors(json_output):
        config.check()
        metrics = _run_with_progress(config, output, resume, quiet=json_output)
    if json_output:
        print_json(metrics.to_json())
        return
    _summary(output, metrics)


def _run_with_progress(config, output: Path, resume: bool, quiet: bool):
    from jsqat_embed.training import jsqat

    if quiet:
        return jsqat.train_run(config, output, resume=resume)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("training", spinner="dots") as status:
        def progress(message: str) -> None:
            console.log(message, highlight=False)
            status.update(message.strip()[:80])

        return jsqat.train_run(config, output, resume=resume, progress=progress)


def _summary(output: Path, metrics) -> None:
    typer.echo(f"run: {output}")
    data = metrics.data
    typer.echo(f"  data: {data.images} images, {len(data.unreadable)} unreadable (listed in metrics.json), "
               f"split by {data.split_by}: {data.train} train / {data.validation} validation / {data.test} test")
    columns = sorted({c for row in data.counts.values() for c in row if c != "patients"}, key=lambda c: (len(c), c))
    typer.echo("  " + " | ".join(["class/subtype".ljust(28), "patients", *[f"{c}X" for c in columns]]))
    for row, counts in data.counts.items():
        typer.echo("  " + " | ".join([row.ljust(28), str(counts.get("patients", 0)).rjust(8),
                                      *[str(counts.get(c, 0)).rjust(len(c) + 1) for c in columns]]))
    if metrics.weights:
        w = metrics.weights
        typer.echo(f"  weights: {w.layers_matched}/{w.layers_total} backbone layers, {w.tensors_matched}/"
                   f"{w.tensors_total} tensors from {w.path} ({w.layout})")
    p = metrics.parameters
    typer.echo(f"  parameters: {p.trainable:,} trainable of {p.total:,}")
    for label, m in (("float", metrics.float), (metrics.tflite_kind, metrics.tflite)):
        typer.echo(f"  {label:6}: accuracy {m.accuracy:.4f}, balanced {m.balanced_accuracy:.4f}"
                   + (f", sensitivity {m.sensitivity:.4f}, specificity {m.specificity:.4f}, F1 {m.f1:.4f}, "
                      f"AUC {m.roc_auc if m.roc_auc is None else round(m.roc_auc, 4)}" if m.f1 is not None else ""))
    typer.echo(f"  ({metrics.tflite_file} evaluated by {metrics.evaluated_by})")
    pruned = [layer["sparsity"] for layer in metrics.layer_sparsity if layer["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    if pruned and metrics.config.mode in ("sat", "jsqat"):
        typer.echo(f"  sparsity (conv/dense layers, measured in the .tflite): min {min(pruned):.3f}, "
                   f"mean {sum(pruned) / len(pruned):.3f}")
    s = metrics.sizes
    typer.echo(f"  sizes: Keras .h5 {s.keras_h5_bytes or 0:,} B, .tflite {s.tflite_bytes:,} B "
               f"(int8 constants {s.int8_constant_bytes:,} B, float32 {s.float32_constant_bytes:,} B), "
               f"gzip {s.tflite_gzip_bytes:,} B" + (f", DECODE-pruned {s.decode_bytes:,} B" if s.decode_bytes else ""))
    if metrics.tflm is not None:
        typer.echo("  TFLM: " + (f"runs it, arena {metrics.tflm.arena_bytes:,} B" if metrics.tflm.runnable
                                 else f"does not run it ({metrics.tflm.error})"))
    model = output / metrics.tflite_file
    if metrics.tflite_kind == "int8":
        typer.echo(f"  next: jsqat-embed verify {model} --random 16; jsqat-embed fit-check {model} --all")
    else:
        typer.echo(f"  next: jsqat-embed inspect {model} (for a microcontroller, train with --quantize all --head gap)")


def sweep_command(
    data: Path = DATA,
    root: Path = typer.Option(..., "--output", "-o", help="Directory holding one run directory per configuration."),
    backbones: str = typer.Option("mobilenetv2", "--backbone", help="Comma-separated backbones (paper: vgg19,resnet50)."),
    img_size: int = IMG_SIZE,
    alpha: float = ALPHA,
    modes: str = typer.Option("sat,jsqat", "--modes", help="Comma-separated modes (paper: sat,jsqat)."),
    sparsities: str = typer.Option("0.5,0.7,0.9", "--sparsities", help="Comma-separated sparsities."),
    regs: str = typer.Option("l1,l1l2", "--regs", help="Comma-separated regularizations."),
    lambdas: str = typer.Option("0,0.001,0.005,0.01,0.05", "--lambdas", help="Comma-separated lambdas (the paper's)."),
    repeats: int = typer.Option(1, "--repeats", help="Seeds per configuration (0, 1, ...; paper: 3)."),
    epochs: int = EPOCHS,
    head_epochs: int = HEAD_EPOCHS,
    head: str = HEAD,
    head_units: int = HEAD_UNITS,
    unfreeze: str = UNFREEZE,
    trainable_fraction: float = TRAINABLE_FRACTION,
    batchnorm: str = BATCHNORM,
    quantize: str = QUANTIZE,
    sat_export: str = SAT_EXPORT,
    augment: str = AUGMENT,
    lr_head: float = LR_HEAD,
    lr_stage1: float = LR_STAGE1,
    lr_stage2: float = LR_STAGE2,
    lr_stage3: float = LR_STAGE3,
    batch_size: int = BATCH_SIZE,
    weights: str = WEIGHTS,
    magnification: str = MAGNIFICATION,
    dataset: str = DATASET,
    split_by: str = SPLIT,
    ray: bool = typer.Option(False, "--ray", help="Run the runs as Ray tasks (a local Ray unless --address)."),
    address: str = typer.Option(None, "--address", help="Join this Ray cluster (e.g. ray://head:10001 or auto); its workers need jsqat-embed[train] and the output directory on shared storage."),
    ray_cpus: int = typer.Option(None, "--ray-cpus", help="CPUs of the local Ray (default: all of this machine's); ignored with --address."),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="CPUs Ray reserves per run."),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="GPUs Ray reserves per run (e.g. 1, or 0.5 to share one)."),
    retries: int = typer.Option(3, "--retries", help="Times Ray restarts a run whose worker died; the retry resumes the run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs (and which are finished) without training."),
    json_output: bool = typer.Option(False, "--json", help="Print the runs and their status as JSON."),
) -> None:
    """Run a grid of configurations (the paper's backbone x lambda x sparsity x mode x reg), skipping finished runs.

    Configurations that train the same model run once (sparsity is ignored by baseline/qat,
    the regularization kind by lambda 0); killed runs resume where they stopped."""
    from jsqat_embed.training.sweep import parse_values, plan_sweep, run_sweep, status_of

    with user_errors(json_output):
        base = _config(data=str(data), img_size=img_size, alpha=alpha, epochs=epochs, head_epochs=head_epochs,
                       head=head, head_units=head_units, unfreeze=unfreeze, trainable_fraction=trainable_fraction,
                       batchnorm=batchnorm, quantize=quantize, sat_export=sat_export, augment=augment,
                       lr_head=lr_head, lr_stage1=lr_stage1, lr_stage2=lr_stage2, lr_stage3=lr_stage3,
                       batch_size=batch_size, weights=weights, magnification=magnification, dataset=dataset,
                       split_by=split_by)
        runs = plan_sweep(base, root, backbones=parse_values(backbones, "--backbone", str),
                          modes=parse_values(modes, "--modes", str), regs=parse_values(regs, "--regs", str),
                          sparsities=parse_values(sparsities, "--sparsities"), lambdas=parse_values(lambdas, "--lambdas"),
                          repeats=repeats)
        if dry_run:
            statuses = [status_of(run, since=float("inf")) for run in runs]
            for status in statuses:
                status.status = "finished" if status.status == "finished" else "planned"
        elif json_output:
            statuses = run_sweep(runs, ray=ray, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
                                 retries=retries, num_cpus=ray_cpus)
        else:
            typer.echo(f"{len(runs)} distinct runs, {sum(r.finished for r in runs)} finished"
                       + (f"; on Ray ({address or 'local'})" if ray else ""))
            statuses = _sweep_live(runs, ray=ray, address=address, cpus_per_run=cpus_per_run,
                                   gpus_per_run=gpus_per_run, retries=retries, num_cpus=ray_cpus)
    failed = [s for s in statuses if s.status == "failed"]
    if json_output:
        print_json({"runs": [asdict(s) for s in statuses]})
    else:
        if dry_run:
            typer.echo(f"{len(runs)} distinct runs, {sum(r.finished for r in runs)} finished")
            for status in statuses:
                typer.echo(f"{status.status:8} {status.name}")
        for status in failed:
            typer.echo(f"failed {status.name}: {status.error}", err=True)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _status_table(statuses):
    from rich.table import Table

    table = Table(title="sweep", title_justify="left")
    for column in ("run", "status", "stage", "epoch", "attempts", "host", "seconds"):
        table.add_column(column, justify="right" if column in ("epoch", "attempts", "seconds") else "left",
                         no_wrap=column == "run", min_width=max(len(s.name) for s in statuses) if column == "run" else None)
    for s in statuses:
        epoch = f"{s.epoch}/{s.epochs}" if s.epoch is not None and s.epochs else ""
        table.add_row(s.name, s.status, s.stage, epoch, str(s.attempts or ""), s.host,
                      f"{s.seconds:,.0f}" if s.seconds else "")
    return table


def _sweep_live(runs, **options):
    """The sweep with a live table of every run's status, stage and epoch (on stderr)."""
    from rich.console import Console
    from rich.live import Live

    from jsqat_embed.training.sweep import run_sweep, status_of

    # run names are never cut: the table is as wide as they need
    console = Console(stderr=True)
    console = Console(stderr=True, width=max(console.width, max(len(run.name) for run in runs) + 70))
    with Live(_status_table([status_of(run, since=float("inf")) for run in runs]), console=console,
              refresh_per_second=2, transient=False) as live:
        statuses = run_sweep(runs, on_update=lambda rows: live.update(_status_table(rows)), **options)
        live.update(_status_table(statuses))
    return statuses


def report_command(
    runs: list[Path] = typer.Argument(..., help="Run directories (with metrics.json), or a sweep's output directory: its finished runs."),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Where to write tables, figure and pages."),
    metric: str = typer.Option("accuracy", "--metric", help="What Tables 2-3 and Figure 4 show: accuracy, balanced_accuracy, sensitivity, specificity, f1 or roc_auc."),
    json_output: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """The paper's Tables 1-4 (CSV, Markdown, HTML) and Figure 4 (8 panels, PNG and SVG) from finished runs."""
    from jsqat_embed.training.report import write_report

    with user_errors(json_output):
        written = write_report(runs, output, metric)
    if json_output:
        print_json({"written": [str(path) for path in written]})
        return
    for path in written:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("sweep")(sweep_command)
    app.command("report")(report_command)
