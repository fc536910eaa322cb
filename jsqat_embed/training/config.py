"""One training run's configuration: every choice the paper made, and where we differ, an option.

No TensorFlow here: ``sweep``, ``report`` and the CLI read configurations without it.

Defaults follow the paper (Aboutahoun et al., IEEE Access) wherever it states or
implies a choice:

- ``head="paper"``: global average pooling, Dense(1072, ReLU), Dense(classes, softmax).
  The paper's parameter counts imply the 1,072 hidden units: VGG19's 20,576,466 total
  minus the 20,024,384 of the backbone without top is 512*1072 + 1072 + 1072*2 + 2;
  ResNet-50 gives the same width. ``head="gap"`` is pooling + softmax only (what a
  microcontroller model wants: the 1,072-unit layer costs 1.4 M parameters on MobileNetV2).
- ``unfreeze="paper"``: VGG19 trains from ``block5_conv2`` up (7,631,506 trainable
  parameters), ResNet-50 from ``conv5_block2_2_bn`` up, batch normalization included
  (7,720,082); other backbones have no paper boundary and unfreeze the top layers until
  ``trainable_fraction`` of the parameters train (the paper's ~30 %).
- ``batchnorm="train"``: unfrozen batch-norm layers train, as the paper counts them.
- ``quantize="trainable"``: stage III quantizes the trainable layers only (Algorithm 1,
  line 20); the frozen backbone stays float32, so the .tflite mixes float and int8
  kernels. ``quantize="all"`` is full int8, the microcontroller deployment.
- ``sat_export="float"``: SAT is a float model in the paper; ``int8`` quantizes it
  after training.
- ``augment="none"``: the paper augments nothing; ``basic`` adds flips, 90-degree turns
  and mild colour jitter.
- Learning rates per stage: head epoch 1e-3, stage I 1e-4, stage II 1e-4, stage III 1e-5
  (the paper does not state them; these are tfmot's customary fine-tuning rates).

The split is not stated in the paper; ``split_by="patient"`` (no patient in two splits)
is the default, ``image`` the setting to compare with the paper's numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from jsqat_embed.errors import InputDataError

MODES = ("baseline", "qat", "sat", "jsqat")
#: backbone -> how 0..255 pixels become its inputs (jsqat_embed.verify.images' names)
BACKBONES = {"vgg19": "caffe", "resnet50": "caffe", "densenet121": "torch", "mobilenetv2": "symmetric"}
#: the first backbone layer the paper trains (every later layer trains too)
PAPER_UNFREEZE = {"vgg19": "block5_conv2", "resnet50": "conv5_block2_2_bn"}
PAPER_HEAD_UNITS = 1072
HEADS = ("paper", "gap")
QUANTIZE_SCOPES = ("trainable", "all")
SAT_EXPORTS = ("float", "int8")
AUGMENTATIONS = ("none", "basic")
BATCHNORM = ("train", "freeze")
SPLITS = ("patient", "image")


@dataclass
class TrainConfig:
    data: str
    backbone: str = "mobilenetv2"
    img_size: int = 96
    alpha: float = 0.35
    mode: str = "jsqat"
    sparsity: float = 0.5
    reg: str = "l1"
    lam: float = 0.001
    epochs: int = 50
    head_epochs: int = 1
    head: str = "paper"
    head_units: int = PAPER_HEAD_UNITS
    unfreeze: str = "paper"
    trainable_fraction: float = 0.3
    batchnorm: str = "train"
    quantize: str = "trainable"
    sat_export: str = "float"
    augment: str = "none"
    lr_head: float = 1e-3
    lr_stage1: float = 1e-4
    lr_stage2: float = 1e-4
    lr_stage3: float = 1e-5
    batch_size: int = 16
    weights: str = "imagenet"
    magnification: str = "40"
    dataset: str = "breakhis"  # or "folders"
    split_by: str = "patient"
    seed: int = 0

    def check(self) -> None:
        """Refuse impossible settings before any TensorFlow work, naming the option."""
        choices = {"backbone": BACKBONES, "mode": MODES, "reg": ("l1", "l1l2"), "head": HEADS,
                   "quantize": QUANTIZE_SCOPES, "sat_export": SAT_EXPORTS, "augment": AUGMENTATIONS,
                   "batchnorm": BATCHNORM, "split_by": SPLITS, "dataset": ("breakhis", "folders")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputDataError(f"{name.replace('_', '-')} {getattr(self, name)!r}: choose {', '.join(allowed)}")
        if not 0 <= self.sparsity < 1:
            raise InputDataError(f"sparsity {self.sparsity} must be in [0, 1)")
        if self.lam < 0 or self.epochs < 1 or self.img_size < 32:
            raise InputDataError("lambda must be >= 0, epochs >= 1 and img-size >= 32")
        if self.head_epochs < 0 or self.head_units < 1 or self.batch_size < 1:
            raise InputDataError("head-epochs must be >= 0, head-units and batch-size >= 1")
        if not 0 < self.trainable_fraction <= 1:
            raise InputDataError(f"trainable-fraction {self.trainable_fraction} must be in (0, 1]")
        for name in ("lr_head", "lr_stage1", "lr_stage2", "lr_stage3"):
            if not getattr(self, name) > 0:
                raise InputDataError(f"{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")

    @property
    def preprocess(self) -> str:
        return BACKBONES[self.backbone]

    @property
    def l1_l2(self) -> tuple[float, float]:
        """The paper's modes: L1 (l2 = 0) or L1L2 (l1 = l2 = lambda)."""
        return (self.lam, 0.0) if self.reg == "l1" else (self.lam, self.lam)

    @property
    def unfreeze_from(self) -> str | None:
        """The first layer that trains after the head epoch, or None for the fraction rule."""
        if self.unfreeze == "paper":
            return PAPER_UNFREEZE.get(self.backbone)
        return None if self.unfreeze == "fraction" else self.unfreeze

    @property
    def export_kind(self) -> str:
        """What the exported .tflite holds: ``int8`` (full integer), ``mixed`` (float frozen
        backbone, int8 trained layers) or ``float``."""
        if self.mode == "sat":
            return "float" if self.sat_export == "float" else "int8"
        if self.mode == "baseline" or self.quantize == "all":
            return "int8"
        return "mixed"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputDataError(f"unknown training settings {', '.join(unknown)} (written by another version?)")
        return cls(**data)
