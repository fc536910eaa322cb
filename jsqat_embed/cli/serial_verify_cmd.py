"""``jsqat-embed serial-verify``: the device's answers vs the emulator's, byte for byte, over a serial link."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_NEGATIVE, print_json, user_errors


def serial_verify_command(
    model: Path = typer.Argument(None, help="The .tflite the device runs: the one build wrote into the project "
                                 "(model.tflite, the encoded model when build compressed it)."),
    port: str = typer.Option(..., "--port", "-p", help="Serial port of the device (/dev/ttyACM0, /dev/cu.usbmodem1101, COM3)."),
    model_option: Path = typer.Option(None, "--model", "-m", hidden=True,
                                      help="Deprecated: give MODEL as the first argument."),
    random: int = typer.Option(16, "--random", help="Number of random inputs (ignored with --images)."),
    images: Path = typer.Option(None, "--images", help="Send these images (preprocessed as verify --images; models with one image input)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the random inputs."),
    baud: int = typer.Option(115200, "--baud", help="Baud rate (USB CDC ports ignore it)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for each answer, beyond the time the "
                                  "request and the answer take on the wire at --baud."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document."),
) -> None:
    """Send inputs in frames, compare each output with the emulator's, report bit-exactness and device latency.

    Every input tensor of a sample goes in one frame and every output tensor comes back
    in one (docs/protocol.md); each output is compared byte for byte. --images needs a
    model with exactly one image input.
    """
    import hashlib

    import numpy as np

    from jsqat_embed.emulator import Emulator
    from jsqat_embed.errors import InputDataError
    from jsqat_embed.firmware.protocol import ProtocolError, SerialLink, infer_on_device
    from jsqat_embed.verify.compare import random_inputs
    from jsqat_embed.verify.support import require_image_input, require_quantized

    with user_errors(json_output):
        import math

        if model is not None and model_option is not None:
            raise InputDataError("give the model once: as MODEL (--model is its deprecated spelling)")
        model = model if model is not None else model_option
        if model is None:
            raise InputDataError("missing MODEL: serial-verify MODEL.tflite --port PORT")
        if not (math.isfinite(timeout) and 0 < timeout <= 3600):
            raise InputDataError(f"--timeout {timeout}: give seconds above 0 and at most 3600")
        if not 0 < baud <= 100_000_000:
            raise InputDataError(f"--baud {baud}: give a positive baud rate")
        from jsqat_embed.tflite import read_model
        from jsqat_embed.tflite.reader import read_model_file

        data = read_model_file(model)

        graph = read_model(data)
        require_quantized(graph, model)
        emulator = Emulator(graph)
        if images is not None:
            from jsqat_embed.verify.images import load_images

            require_image_input(graph, "--images")
            batch, _files = load_images(images, emulator.inputs[0])
            inputs = [batch]
        else:
            inputs = random_inputs(emulator, random, seed)
        expected = emulator.run(*inputs)
        samples = inputs[0].shape[0] // max(1, emulator.inputs[0].shape[0] if emulator.inputs[0].shape else 1)
        per_sample_inputs = [np.ascontiguousarray(a).reshape(samples, -1) for a in inputs]
        per_sample_outputs = [np.ascontiguousarray(a).reshape(samples, -1) for a in expected]
        output_names = [t.name for t in emulator.outputs]
        model_hash = hashlib.sha256(data).digest()[:8]
        output_sizes = [t.nbytes for t in emulator.outputs]
        link = SerialLink.open(port, baud)
        results = []
        try:
            with _progress(samples, enabled=not json_output) as advance:
                for i in range(samples):
                    try:
                        answer = infer_on_device(link, model_hash, [a[i].tobytes() for a in per_sample_inputs],
                                                 output_sizes, timeout)
                    except ProtocolError as exc:
                        raise ProtocolError(f"sample {i} ({i} of {samples} answered): {exc}") from exc
                    advance()
                    differing = None
                    for index, (got, want) in enumerate(zip(answer.outputs, per_sample_outputs)):
                        mismatch = next((k for k, (a, b) in enumerate(zip(got, want[i].tobytes())) if a != b), None)
                        if mismatch is not None:
                            differing = {"output": index, "name": output_names[index], "byte": mismatch}
                            break
                    results.append({"sample": i, "bit_exact": differing is None,
                                    "first_differing_byte": differing["byte"] if differing else None,
                                    "first_differing_output": differing["output"] if differing else None,
                                    "device_us": answer.microseconds})
        except KeyboardInterrupt:
            typer.echo(f"interrupted: {len(results)} of {samples} samples answered", err=True)
            raise typer.Exit(130) from None
        finally:
            link.close()
    exact = sum(r["bit_exact"] for r in results)
    latencies = sorted(r["device_us"] for r in results)
    summary = {
        "model": str(model), "port": port, "samples": len(results), "bit_exact": exact,
        "outputs": [{"index": i, "name": name, "bytes": size}
                    for i, (name, size) in enumerate(zip(output_names, output_sizes))],
        "device_latency_us": {"min": latencies[0], "median": latencies[len(latencies) // 2], "max": latencies[-1]}
        if latencies else None,
        "results": results, "device_log": list(link.log), "notes": list(link.notes),
    }
    if json_output:
        print_json(summary)
    else:
        for line in link.log:  # neutralised by the link: no terminal escapes from the device
            typer.echo(f"device: {line}")
        for note in link.notes:
            typer.echo(f"note: {note}")
        verdict = "bit-exact" if exact == len(results) else "NOT bit-exact"
        scope = f" (all {len(output_names)} outputs compared)" if len(output_names) > 1 else ""
        typer.echo(f"{exact}/{len(results)} samples {verdict} with the emulator (= TFLM reference kernels){scope}")
        if latencies:
            typer.echo(f"device inference: median {latencies[len(latencies) // 2] / 1000:.1f} ms "
                       f"(min {latencies[0] / 1000:.1f}, max {latencies[-1] / 1000:.1f})")
        for r in results:
            if not r["bit_exact"]:
                where = (f"output {r['first_differing_output']} '{output_names[r['first_differing_output']]}' "
                         if len(output_names) > 1 else "")
                typer.echo(f"  sample {r['sample']}: {where}first differing byte {r['first_differing_byte']}")
    if exact != len(results):
        raise typer.Exit(EXIT_NEGATIVE)


@contextmanager
def _progress(total: int, enabled: bool):
    """A progress bar on stderr while samples go to the device (only on a terminal)."""
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not (enabled and sys.stderr.isatty()):
        yield lambda: None
        return
    with Progress(TextColumn("device"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("samples", total=total)
        yield lambda: progress.advance(task)


def register(app: typer.Typer) -> None:
    app.command("serial-verify")(serial_verify_command)
