"""The "Train a candidate" form: input checks only; the rules live in `services`."""

from __future__ import annotations

from typing import Any

from django import forms

from inference.models import ModelVersion
from learning.models import DatasetSnapshot
from learning.services import PUBLIC_LIMIT_MAX, SCHEDULE_BOUNDS
from learning.sources import PublicSource


def _bounds(key: str) -> dict[str, Any]:
    low, high, default = SCHEDULE_BOUNDS[key]
    return {"min_value": low, "max_value": high, "initial": default}


class TrainingRunForm(forms.Form):
    start_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.filter(
            damage_backend=ModelVersion.DamageBackend.SEGMENTATION
        ).exclude(status=ModelVersion.Status.RETIRED),
        label="Start from version",
        help_text="A segmentation version; its weights are where training starts.",
    )
    snapshots = forms.ModelMultipleChoiceField(
        queryset=DatasetSnapshot.objects.order_by("-created_at"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Label snapshots",
        help_text="Reviewed labels to train on; also used for validation and calibration.",
    )
    epochs = forms.IntegerField(label="Epochs", **_bounds("epochs"))
    max_steps_per_epoch = forms.IntegerField(
        label="Steps per epoch (at most)", **_bounds("max_steps_per_epoch")
    )
    batch_size = forms.IntegerField(label="Batch size", **_bounds("batch_size"))
    resize = forms.IntegerField(label="Resize (long side, px)", **_bounds("resize"))
    crop = forms.IntegerField(label="Training crop (px)", **_bounds("crop"))
    lr = forms.FloatField(label="Learning rate", **_bounds("lr"))

    def __init__(self, *args: Any, public: list[PublicSource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.public = public
        self.fields["start_version"].label_from_instance = (  # type: ignore[attr-defined]
            lambda v: f"{v.name} {v.version} ({v.get_status_display().lower()})"
        )
        self.fields["snapshots"].label_from_instance = (  # type: ignore[attr-defined]
            lambda s: f"{s.version}: {s.images} photos, {s.annotations} labels"
        )
        for i, source in enumerate(public):
            self.fields[f"public_{i}"] = forms.BooleanField(
                required=False, label=f"{source.name} ({source.description})"
            )
            self.fields[f"public_{i}_limit"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=PUBLIC_LIMIT_MAX,
                initial=200,
                label=f"Images of {source.name} (at most)",
            )

    def public_fields(self) -> list[tuple[Any, Any]]:
        return [(self[f"public_{i}"], self[f"public_{i}_limit"]) for i in range(len(self.public))]

    def public_choice(self) -> list[dict[str, Any]]:
        chosen = []
        for i, source in enumerate(self.public):
            if self.cleaned_data.get(f"public_{i}"):
                limit = self.cleaned_data.get(f"public_{i}_limit") or 200
                chosen.append({"name": source.name, "limit": int(limit)})
        return chosen

    def schedule_fields(self) -> list[Any]:
        return [self[key] for key in SCHEDULE_BOUNDS]

    def schedule(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in SCHEDULE_BOUNDS}
