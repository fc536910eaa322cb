"""``jsqat-embed verify``: the emulator against the real TFLM kernels, byte by byte."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_NEGATIVE, EXIT_REFERENCE, print_json, user_errors


def verify_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model."),
    random: int = typer.Option(16, "--random", min=1, help="Number of seeded random inputs (ignored with --images)."),
    images: Path | None = typer.Option(None, "--images", help="Folder (or file) of PNG/JPEG/TIFF images to use as inputs."),
    preprocess: str = typer.Option("symmetric", "--preprocess", help="How pixels map to real values before quantizing: symmetric ([-1,1]), unit ([0,1]), raw ([0,255]) or caffe (BGR minus ImageNet means)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    no_litert: bool = typer.Option(False, "--no-litert", help="Skip the LiteRT second reference."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document."),
) -> None:
    """Run the emulator, the real TFLM interpreter and LiteRT on the same inputs; compare every output byte.

    Exit 0 iff every sample is bit-exact against TFLM, 1 if one is not, 2 for bad
    input, 3 if the TFLM interpreter itself failed (for example aborted).
    """
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import verify
    from jsqat_embed.verify.references import LITERT, TFLM

    references = (TFLM,) if no_litert else (TFLM, LITERT)
    with user_errors(json_output):
        emulator = Emulator(model)
        if images is not None:
            from jsqat_embed.verify.images import load_images

            if len(emulator.inputs) != 1:
                from jsqat_embed.errors import InputDataError

                raise InputDataError("--images needs a model with exactly one input")
            batch, paths = load_images(images, emulator.inputs[0], preprocess)
            report = verify(emulator, [batch], references=references, input_label=f"{len(paths)} images from {images}")
        else:
            report = verify(emulator, samples=random, seed=seed, references=references, input_label=f"random, seed {seed}")
    oracle = report.references[TFLM]
    if json_output:
        print_json(report.to_json())
    else:
        typer.echo(f"{report.model}: {report.samples} samples ({report.inputs}), emulator {report.emulator_seconds * 1000:.1f} ms")
        for name, ref in report.references.items():
            label = f"{name} ({ref.version})" if ref.version else name
            if not ref.ok:
                typer.echo(f"  {label}: FAILED - {ref.error}")
            elif ref.bit_exact:
                typer.echo(f"  {label}: bit-exact on all {report.samples} samples")
            else:
                note = " (LiteRT's optimized kernels round differently; reported, not failed on)" if name == LITERT and ref.max_abs_diff <= 1 else ""
                typer.echo(f"  {label}: {len(ref.mismatched_samples)} of {report.samples} samples differ, max |diff| {ref.max_abs_diff}{note}")
        if report.first_divergence:
            d = report.first_divergence
            typer.echo(
                f"  first divergence: operator {d.operator} ({d.op}) output '{d.tensor}' (tensor {d.tensor_index}), "
                f"sample {d.sample}: {d.differing_values} of {d.values} values differ, max |diff| {d.max_abs_diff}"
            )
        typer.echo("BIT-EXACT" if report.bit_exact else "NOT BIT-EXACT")
    if not oracle.ok:
        raise typer.Exit(EXIT_REFERENCE)
    if not report.bit_exact:
        raise typer.Exit(EXIT_NEGATIVE)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
