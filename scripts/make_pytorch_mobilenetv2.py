"""Regenerate tests/data/pytorch_mobilenetv2_a035_96.tflite: a PyTorch-exported int8 MobileNetV2.

Needs its own environment (torch and litert-torch pull versions that clash with
the TensorFlow of the `train` extra):

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 litert-torch
    /tmp/torchvenv/bin/python scripts/make_pytorch_mobilenetv2.py

The network is MobileNetV2 (width 0.35, 96x96, 2 classes) written here in plain
torch (torchvision is not needed), random weights, quantized with PyTorch's PT2E
flow (symmetric int8, per-channel weights) calibrated on seeded random images,
and converted by litert-torch. The result keeps PyTorch's NCHW input, so the
converter emits TRANSPOSE, explicit PAD and QUANTIZE/DEQUANTIZE at the edges:
the op pattern of PyTorch-exported models the emulator must handle. PT2E leaves
the residual additions in float (DEQUANTIZE, float32 ADD, QUANTIZE), as it does
for many real PyTorch exports.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite"


def _divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn(cin, hidden, 1, 1)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, 1, relu=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    # (expansion, channels, repeats, stride), the paper's table
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, width: float = 0.35, classes: int = 2) -> None:
        super().__init__()
        cin = _divisible(32 * width)
        layers = [conv_bn(3, cin, 3, 2)]
        for expand, channels, repeats, stride in self.SETTINGS:
            cout = _divisible(channels * width)
            for i in range(repeats):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        layers.append(conv_bn(cin, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x):
        # Logits out, as most PyTorch classifiers export them (softmax left to the host).
        return self.classifier(self.features(x).mean((2, 3)))


def main() -> int:
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e import quantize_pt2e

    torch.manual_seed(0)
    model = MobileNetV2().eval()
    sample = (torch.rand(1, 3, 96, 96) * 2 - 1,)
    exported = torch.export.export(model, sample).module()
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    prepared = quantize_pt2e.prepare_pt2e(exported, quantizer)
    for _ in range(16):
        prepared(torch.rand(1, 3, 96, 96) * 2 - 1)
    quantized = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    edge = litert_torch.convert(quantized, sample, quant_config=quant_config.QuantConfig(pt2e_quantizer=quantizer))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    edge.export(str(OUTPUT))
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
