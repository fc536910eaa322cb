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
    labels: Path | None = typer.Option(None, "--labels", help="With --images: class names, one a line in class index order (UTF-8); default: the model's 'labels' metadata entry, if it has one."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs."),
    no_litert: bool = typer.Option(False, "--no-litert", help="Skip the LiteRT second reference."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document."),
) -> None:
    """Run the emulator, the real TFLM interpreter and LiteRT on the same inputs; compare every output byte.

    Every output tensor of a multi-output model is compared. --images needs a model
    with exactly one image input and prints per image the top class of the first
    output, its score (the real value) and whether the image is bit-exact. LiteRT
    is skipped, with the reason, for files only TFLM can run (TFLM's custom ops
    such as DECODE). Fully floating-point models are refused (quantize them first).
    Exit 0 iff every sample is bit-exact against TFLM, 1 if one is not, 2 for bad
    input, 3 if the TFLM interpreter itself failed (for example aborted).
    """
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import verify
    from jsqat_embed.verify.references import LITERT, TFLM

    references = (TFLM,) if no_litert else (TFLM, LITERT)
    with user_errors(json_output):
        from jsqat_embed.tflite import read_model
        from jsqat_embed.verify.images import PREPROCESSING
        from jsqat_embed.verify.support import require_image_input, require_quantized

        if preprocess not in PREPROCESSING:
            from jsqat_embed.errors import InputDataError

            raise InputDataError(f"--preprocess {preprocess!r}: choose {', '.join(PREPROCESSING)}")

        graph = read_model(model)
        require_quantized(graph, model)
        if images is not None:
            require_image_input(graph, "--images")
        elif labels is not None:
            from jsqat_embed.errors import InputDataError

            raise InputDataError("--labels names the classes of --images; pass --images too")
        emulator = Emulator(graph)
        if images is not None:
            from jsqat_embed.verify.images import load_images

            names = _class_names(graph, emulator.outputs[0], labels)
            batch, paths = load_images(images, emulator.inputs[0], preprocess)
            counted = f"{len(paths)} image{'s' if len(paths) != 1 else ''}"
            report = verify(emulator, [batch], references=references, input_label=f"{counted} from {images}",
                            images=[_image_name(path, images) for path in paths], labels=names)
        else:
            report = verify(emulator, samples=random, seed=seed, references=references, input_label=f"random, seed {seed}")
    oracle = report.references[TFLM]
    if json_output:
        print_json(report.to_json())
    else:
        typer.echo("\n".join(_text(report)))
    if not oracle.ok:
        raise typer.Exit(EXIT_REFERENCE)
    if not report.bit_exact:
        raise typer.Exit(EXIT_NEGATIVE)


def _class_names(graph, output, labels_file: Path | None) -> list[str] | None:
    """--labels FILE, else the model's ``labels`` metadata; checked against the first output's size."""
    from jsqat_embed.verify.classes import LABELS_METADATA, check_labels, model_labels, read_labels

    if labels_file is not None:
        names, source = read_labels(labels_file), f"--labels {labels_file}"
    else:
        names, source = model_labels(graph), f"{graph.name}: metadata '{LABELS_METADATA}' (pass --labels FILE)"
    if names is not None:
        check_labels(names, output, source)
    return names


def _image_name(path: Path, source: Path) -> str:
    """The file as the user knows it: relative to the --images folder."""
    try:
        return str(path.relative_to(source)) if source.is_dir() else path.name
    except ValueError:
        return str(path)


def _samples(count: int) -> str:
    return f"{count} sample{'s' if count != 1 else ''}"


def _score(value: float) -> str:
    return f"{value:.4g}"


def _text(report) -> list[str]:
    from jsqat_embed.cli.layout import terminal_width, wrap
    from jsqat_embed.verify.references import LITERT

    width = terminal_width()
    seconds = report.emulator_seconds
    timing = f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
    out = wrap(f"{report.model}: {_samples(report.samples)} ({report.inputs}), emulator {timing}", width)
    for name, ref in report.references.items():
        label = f"{name} ({ref.version})" if ref.version else name
        if ref.skipped:
            state = f"SKIPPED - {ref.skip_reason}"
        elif not ref.ok:
            # LiteRT repeats its refusal once per tensor: the start says it, --json has all of it
            error = ref.error if len(ref.error) <= 300 else ref.error[:300].rsplit(" ", 1)[0] + " ... (see --json)"
            state = f"FAILED - {error}"
        elif ref.bit_exact:
            state = f"bit-exact on all {report.samples} samples" if report.samples > 1 else "bit-exact"
        else:
            note = (" (LiteRT's optimized kernels round differently; reported, not failed on)"
                    if name == LITERT and ref.max_abs_diff <= 1 else "")
            state = (f"{len(ref.mismatched_samples)} of {report.samples} samples differ, max |diff| "
                     f"{ref.max_abs_diff}{note}")
        out += wrap(f"{label}: {state}", width, "  ")
        if ref.ok and len(ref.outputs) > 1:
            for output in ref.outputs:
                state = "bit-exact" if not output.mismatched_samples else \
                    f"{output.mismatched_samples} of {report.samples} samples differ, max |diff| {output.max_abs_diff}"
                out += wrap(f"output {output.index} '{output.name}' ({output.dtype}): {state}", width, "    ")
    if report.first_divergence:
        d = report.first_divergence
        out += wrap(f"first divergence: operator {d.operator} ({d.op}) output '{d.tensor}' (tensor {d.tensor_index}), "
                    f"sample {d.sample}: {d.differing_values} of {d.values} values differ, max |diff| "
                    f"{d.max_abs_diff}", width, "  ")
    if report.images:
        out += _image_lines(report.images, width)
    out.append("BIT-EXACT" if report.bit_exact else "NOT BIT-EXACT")
    return out


def _image_lines(images, width: int) -> list[str]:
    """Per image: a table when it fits, else one block per image; TFLM's answer where it differs."""
    from jsqat_embed.cli.layout import fits, table, wrap

    def top(index: int, label: str | None) -> str:
        return f"{index} {label}" if label else str(index)

    def exact(image) -> str:
        return "-" if image.bit_exact is None else "yes" if image.bit_exact else "NO"

    grid = table(["image", "class", "score", "bit-exact"],
                 [[image.image, top(image.index, image.label), _score(image.score), exact(image)] for image in images],
                 right={2})
    grid = ["  " + line for line in grid]
    tabular = fits(grid, width)
    lines = [""] + (grid if tabular else [])
    for image in images:
        if not tabular:
            state = {"-": "TFLM did not run", "yes": "bit-exact", "NO": "NOT bit-exact"}[exact(image)]
            lines += wrap(image.image, width, "  ")
            lines += wrap(f"class {top(image.index, image.label)}, score {_score(image.score)}, {state}", width,
                          "    ")
        if image.bit_exact is False and image.tflm is not None:
            lines += wrap(f"{image.image}: TFLM gives class {top(image.tflm.index, image.tflm.label)}, score "
                          f"{_score(image.tflm.score)}", width, "  ")
    return lines + [""]


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
