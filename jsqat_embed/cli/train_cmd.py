"""``jsqat-embed train``, ``sweep`` and ``report``: JSQAT training runs and paper-style tables.

TensorFlow is imported inside these commands only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import print_json, user_errors


# Options train and sweep share: one definition each, so the two commands cannot drift apart.
DATA = typer.Option(..., "--data", help="BreakHis folder (BreaKHis_v1/...) or, with --dataset folders, one folder per class.")
BACKBONE = typer.Option("mobilenetv2", "--backbone", help="vgg19, resnet50 (the paper's) or mobilenetv2.")
IMG_SIZE = typer.Option(224, "--img-size", help="Input height and width.")
ALPHA = typer.Option(0.35, "--alpha", help="MobileNetV2 width multiplier.")
EPOCHS = typer.Option(50, "--epochs", help="Epochs of each stage (paper: 50).")
BATCH_SIZE = typer.Option(16, "--batch-size", help="Batch size.")
WEIGHTS = typer.Option("imagenet", "--weights", help="imagenet, none, or a local .h5 of backbone weights.")
MAGNIFICATION = typer.Option("40", "--magnification", help="BreakHis magnification: 40, 100, 200, 400 or all.")
DATASET = typer.Option("breakhis", "--dataset", help="breakhis or folders.")


def train_command(
    data: Path = DATA,
    output: Path = typer.Option(..., "--output", "-o", help="Run directory (checkpoints, model_int8.tflite, metrics.json)."),
    backbone: str = BACKBONE,
    img_size: int = IMG_SIZE,
    alpha: float = ALPHA,
    mode: str = typer.Option("jsqat", "--mode", help="baseline, qat, sat or jsqat."),
    sparsity: float = typer.Option(0.5, "--sparsity", help="Layer-wise target sparsity of stage II (0.5, 0.7, 0.9)."),
    reg: str = typer.Option("l1", "--reg", help="l1 (lambda1 = lambda, lambda2 = 0) or l1l2 (both = lambda)."),
    lam: float = typer.Option(0.001, "--lambda", help="Regularization strength (paper: 0, .001, .005, .01, .05)."),
    epochs: int = EPOCHS,
    trainable_fraction: float = typer.Option(0.3, "--trainable-fraction", help="Share of parameters unfrozen after the head epoch."),
    batch_size: int = BATCH_SIZE,
    weights: str = WEIGHTS,
    magnification: str = MAGNIFICATION,
    dataset: str = DATASET,
    split_by: str = typer.Option("patient", "--split", help="patient (no leakage, default) or image."),
    seed: int = typer.Option(0, "--seed", help="Seed of splits, initialization and shuffling."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run: finished stages are kept, the interrupted one restarts after its last finished epoch."),
    json_output: bool = typer.Option(False, "--json", help="Print metrics.json instead of a summary."),
) -> None:
    """Train a JSQAT model (transfer learning, pruning, prune-preserving QAT) and export a full-int8 .tflite."""
    from jsqat_embed.training.jsqat import TrainConfig, train_run

    config = TrainConfig(data=str(data), backbone=backbone, img_size=img_size, alpha=alpha, mode=mode,
                         sparsity=sparsity, reg=reg, lam=lam, epochs=epochs, trainable_fraction=trainable_fraction,
                         batch_size=batch_size, weights=weights, magnification=magnification, dataset=dataset,
                         split_by=split_by, seed=seed)
    with user_errors(json_output):
        metrics = _run_with_progress(config, output, resume, quiet=json_output)
    if json_output:
        print_json(metrics)
        return
    _summary(output, metrics)


def _run_with_progress(config, output: Path, resume: bool, quiet: bool):
    from jsqat_embed.training.jsqat import train_run

    if quiet:
        return train_run(config, output, resume=resume)
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("training", spinner="dots") as status:
        def progress(message: str) -> None:
            console.log(message, highlight=False)
            status.update(message.strip()[:80])

        return train_run(config, output, resume=resume, progress=progress)


def _summary(output: Path, metrics: dict) -> None:
    typer.echo(f"run: {output}")
    data = metrics["data"]
    typer.echo(f"  data: {data['images']} images, {len(data['unreadable'])} unreadable (listed in metrics.json), "
               f"split by {data['split_by']}: {data['train']} train / {data['validation']} validation / {data['test']} test")
    columns = sorted({c for row in data["counts"].values() for c in row if c != "patients"}, key=lambda c: (len(c), c))
    typer.echo("  " + " | ".join(["class/subtype".ljust(28), "patients", *[f"{c}X" for c in columns]]))
    for row, counts in data["counts"].items():
        typer.echo("  " + " | ".join([row.ljust(28), str(counts.get("patients", 0)).rjust(8),
                                      *[str(counts.get(c, 0)).rjust(len(c) + 1) for c in columns]]))
    for name in ("float", "int8"):
        m = metrics[name]
        typer.echo(f"  {name:5}: accuracy {m['accuracy']:.4f}, balanced {m['balanced_accuracy']:.4f}"
                   + (f", sensitivity {m['sensitivity']:.4f}, specificity {m['specificity']:.4f}, F1 {m['f1']:.4f}, "
                      f"AUC {m['roc_auc'] if m['roc_auc'] is None else round(m['roc_auc'], 4)}" if "f1" in m else ""))
    pruned = [layer["sparsity"] for layer in metrics["layer_sparsity"] if layer["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    if pruned:
        typer.echo(f"  sparsity (conv/dense layers, measured in the .tflite): min {min(pruned):.3f}, "
                   f"mean {sum(pruned) / len(pruned):.3f}")
    sizes = metrics["sizes"]
    typer.echo(f"  sizes: .tflite {sizes['tflite_bytes']:,} B, gzip {sizes['tflite_gzip_bytes']:,} B"
               + (f", DECODE-pruned {sizes['pruned_encoding_bytes']:,} B" if sizes["pruned_encoding_bytes"] else ""))
    typer.echo(f"  next: jsqat-embed verify {output / 'model_int8.tflite'} --random 16; "
               f"jsqat-embed fit-check {output / 'model_int8.tflite'} --all")


def sweep_command(
    data: Path = DATA,
    root: Path = typer.Option(..., "--output", "-o", help="Directory holding one run directory per configuration."),
    backbone: str = BACKBONE,
    img_size: int = IMG_SIZE,
    alpha: float = ALPHA,
    modes: str = typer.Option("jsqat", "--modes", help="Comma-separated modes."),
    sparsities: str = typer.Option("0.5,0.7,0.9", "--sparsities", help="Comma-separated sparsities."),
    regs: str = typer.Option("l1,l1l2", "--regs", help="Comma-separated regularizations."),
    lambdas: str = typer.Option("0,0.001,0.005,0.01,0.05", "--lambdas", help="Comma-separated lambdas (the paper's)."),
    repeats: int = typer.Option(1, "--repeats", help="Seeds per configuration (0, 1, ...)."),
    epochs: int = EPOCHS,
    weights: str = WEIGHTS,
    batch_size: int = BATCH_SIZE,
    magnification: str = MAGNIFICATION,
    dataset: str = DATASET,
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs (and which are finished) without training."),
    json_output: bool = typer.Option(False, "--json", help="Print the runs and their status as JSON."),
) -> None:
    """Run a grid of configurations (the paper's lambda x sparsity x mode x reg), skipping finished runs.

    Configurations that train the same model run once (sparsity is ignored by baseline/qat,
    the regularization kind by lambda 0)."""
    from jsqat_embed.training.jsqat import TrainConfig, train_run
    from jsqat_embed.training.sweep import parse_values, plan_sweep

    results = []
    with user_errors(json_output):
        base = TrainConfig(data=str(data), backbone=backbone, img_size=img_size, alpha=alpha, epochs=epochs,
                           weights=weights, batch_size=batch_size, magnification=magnification, dataset=dataset)
        runs = plan_sweep(base, root, modes=parse_values(modes, "--modes", str), regs=parse_values(regs, "--regs", str),
                          sparsities=parse_values(sparsities, "--sparsities"), lambdas=parse_values(lambdas, "--lambdas"),
                          repeats=repeats)
        if not json_output:
            typer.echo(f"{len(runs)} distinct runs, {sum(r.finished for r in runs)} finished")
        for run in runs:
            if run.finished or dry_run:
                status = "finished" if run.finished else "to run"
                if not json_output:
                    typer.echo(f"{'skip' if run.finished else 'plan'} {run.name} ({status})")
            else:
                if not json_output:
                    typer.echo(f"run {run.name}")
                train_run(run.config, run.directory, resume=run.directory.exists())
                status = "trained"
            results.append({"name": run.name, "directory": str(run.directory), "status": status})
    if json_output:
        print_json({"runs": results})


def report_command(
    runs: list[Path] = typer.Argument(..., help="Run directories (with metrics.json)."),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Where to write tables and the figure."),
    json_output: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
) -> None:
    """Tables shaped like the paper's Tables 2-4 (markdown and CSV) and its Figure 4 (accuracy vs sparsity)."""
    from jsqat_embed.training.report import write_report

    with user_errors(json_output):
        written = write_report(runs, output)
    if json_output:
        print_json({"written": [str(path) for path in written]})
        return
    for path in written:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("sweep")(sweep_command)
    app.command("report")(report_command)
