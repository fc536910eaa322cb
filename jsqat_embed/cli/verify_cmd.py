"""``jsqat-embed verify``: the emulator against the real TFLM kernels, byte by byte."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_NEGATIVE, EXIT_REFERENCE, print_json, user_errors


def verify_command(
    model: Path = typer.Argument(..., help="Path to a quantized (int8) .tflite model, any number of inputs and outputs."),
    random: int = typer.Option(16, "--random", min=1, help="Number of seeded random inputs (ignored with --images)."),
    images: Path | None = typer.Option(None, "--images", help="Folder (or file) of PNG/JPEG/TIFF images to use as inputs (models with one image input)."),
    preprocess: str = typer.Option("symmetric", "--preprocess", help="How pixels map to real values before quantizing: symmetric ([-1,1]), unit ([0,1]), raw ([0,255]), caffe (BGR minus ImageNet means) or torch ((p/255 - ImageNet mean) / std)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    no_litert: bool = typer.Option(False, "--no-litert", help="Skip the LiteRT second reference."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document."),
) -> None:
    """Run the emulator, the real TFLM interpreter and LiteRT on the same inputs; compare every output byte.

    Every output tensor of a multi-output model is compared. --images needs a model
    with exactly one image input. Fully floating-point models are refused (quantize
    them first). Exit 0 iff every sample is bit-exact against TFLM, 1 if one is not,
    2 for bad input, 3 if the TFLM interpreter itself failed (for example aborted).
    """
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import verify
    from jsqat_embed.verify.references import LITERT, TFLM

    references = (TFLM,) if no_litert else (TFLM, LITERT)
    with user_errors(json_output):
        from jsqat_embed.tflite import read_model
        from jsqat_embed.verify.support import require_image_input, require_quantized

        graph = read_model(model)
        require_quantized(graph, model)
        if images is not None:
            require_image_input(graph, "--images")
        emulator = Emulator(graph)
        if images is not None:
            from jsqat_embed.verify.images import load_images

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
            if ref.ok and len(ref.outputs) > 1:
                for out in ref.outputs:
                    state = "bit-exact" if not out.mismatched_samples else \
                        f"{out.mismatched_samples} of {report.samples} samples differ, max |diff| {out.max_abs_diff}"
                    typer.echo(f"    output {out.index} '{out.name}' ({out.dtype}): {state}")
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
