"""Model builders: segmentation (smp), vehicle-presence classifier, YOLO detector.

Importing this package imports torch; the ONNX predictor path never imports it. The
detector lives in `damage_vision.networks.detector` (imports ultralytics) and is not
imported here.
"""

from damage_vision.networks.classifier import (
    VehicleClassifier,
    VehiclePresence,
    build_vehicle_classifier,
    imagenet_vehicle_classes,
)
from damage_vision.networks.pretrained import (
    LITE_MEAN,
    LITE_STD,
    PretrainedWeightsError,
    load_lite_imagenet_into,
    load_lite_imagenet_state_dict,
    remap_lukemelas_to_timm,
)
from damage_vision.networks.segmentation import (
    IndependentSegmentationModels,
    JointSegmentationModel,
    SegLogits,
    SegmentationModel,
    build_segmentation_model,
    count_head_classes,
)

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "IndependentSegmentationModels",
    "JointSegmentationModel",
    "PretrainedWeightsError",
    "SegLogits",
    "SegmentationModel",
    "VehicleClassifier",
    "VehiclePresence",
    "build_segmentation_model",
    "build_vehicle_classifier",
    "count_head_classes",
    "imagenet_vehicle_classes",
    "load_lite_imagenet_into",
    "load_lite_imagenet_state_dict",
    "remap_lukemelas_to_timm",
]
