from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims.models import ApiClient, ApiToken, Case, Photo
from claims.webhooks import WebhookRefusedError, webhook_target_check
from damage_vision.pipeline.masks import rle_at_size, rle_to_mask
from inference.models import Finding
from portal.api.tokens import NAME_MAX_CHARS


class CaseCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    policy_number = serializers.CharField(max_length=40)
    loss_date = serializers.DateField()
    loss_place = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000)
    contact_phone = serializers.CharField(max_length=40, required=False, default="")
    contact_email = serializers.EmailField(required=False, default="")
    photos = serializers.ListField(child=serializers.FileField(), allow_empty=False, max_length=30)


class CocoRleSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A mask as COCO compressed RLE (decode it with pycocotools' `mask.decode`)."""

    size = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=2,
        max_length=2,
        help_text="[height, width] of the mask, in pixels",
    )
    counts = serializers.CharField(help_text="COCO compressed run-length counts")


class FindingSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    photo = serializers.IntegerField(source="photo_id", read_only=True, help_text="The photo's id")
    model_version: serializers.StringRelatedField[Any] = serializers.StringRelatedField(
        help_text="The model version that made the finding"
    )
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        min_length=4,
        max_length=4,
        read_only=True,
        help_text="[x0, y0, x1, y1] (x1, y1 exclusive) around the finding, in the processed "
        "grid (mask_size)",
    )
    mask_size = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=2,
        max_length=2,
        read_only=True,
        help_text="[width, height] of the processed grid that mask_rle and box refer to",
    )
    mask_rle = CocoRleSerializer(
        read_only=True, help_text="The finding's mask in the processed grid, as COCO RLE"
    )
    confidence = serializers.FloatField(
        read_only=True,
        help_text="Calibrated probability that the finding is correct (C_base for a model "
        "version without a calibrator)",
    )
    mask = serializers.SerializerMethodField(
        help_text="The finding's mask at the photo's original resolution after EXIF "
        "orientation, as COCO RLE; mask_rle is the same mask in the processed grid"
    )
    shape = serializers.ChoiceField(
        choices=Finding.Shape.choices,
        read_only=True,
        help_text="'mask': a region of pixels (segmentation back end); 'box': a detector box "
        "(detection back end), whose mask is the filled box and whose areas are the box's",
    )

    class Meta:
        model = Finding
        fields = [
            "id",
            "photo",
            "part",
            "damage",
            "shape",
            "box",
            "mask",
            "mask_size",
            "mask_rle",
            "area_px",
            "share_of_part",
            "size_class",
            "area_cm2",
            "area_cm2_uncertainty",
            "c_base",
            "confidence",
            "k_agree",
            "c_refined",
            "needs_review",
            "dsi_area",
            "dsi_confidence",
            "dsi_type_weight",
            "dsi_score",
            "model_version",
        ]
        read_only_fields = fields

    @extend_schema_field(CocoRleSerializer)
    def get_mask(self, finding: Finding) -> dict[str, Any]:
        # The photo's stored size is the one the core saw (after EXIF orientation), so the
        # processed-grid mask scales onto the photo the integrator sent.
        photo = finding.photo
        return rle_at_size(rle_to_mask(finding.mask_rle), (photo.width, photo.height))


class PhotoSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    thumbnail_url = serializers.SerializerMethodField()
    annotated_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = [
            "id",
            "position",
            "original_name",
            "status",
            "set_aside_reason",
            "error",
            "dsi",
            "width",
            "height",
            "thumbnail_url",
            "annotated_url",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.URLField(allow_null=True, help_text="A small JPEG (send your token)")
    )
    def get_thumbnail_url(self, photo: Photo) -> str | None:
        return self._url(photo, "thumb") if photo.thumbnail else None

    @extend_schema_field(
        serializers.URLField(
            allow_null=True, help_text="The photo with its findings drawn (send your token)"
        )
    )
    def get_annotated_url(self, photo: Photo) -> str | None:
        return self._url(photo, "annotated") if photo.annotated else None

    def _url(self, photo: Photo, kind: str) -> str | None:
        request = self.context.get("request")
        path = reverse(
            "portal:photo_image",
            kwargs={"public_id": photo.case.public_id, "photo_id": photo.pk, "kind": kind},
        )
        return request.build_absolute_uri(path) if request else path


class CaseSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(source="public_id", read_only=True)
    reference = serializers.CharField(read_only=True, help_text="Short reference for people")
    photos = serializers.SerializerMethodField()
    findings = serializers.SerializerMethodField()
    model_version: serializers.StringRelatedField[Any] = serializers.StringRelatedField(
        allow_null=True, help_text="The model version that processed the case (null before)"
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "status",
            "dsi",
            "policy_number",
            "loss_date",
            "loss_place",
            "description",
            "created_at",
            "finished_at",
            "model_version",
            "photos",
            "findings",
        ]
        read_only_fields = fields

    @extend_schema_field(PhotoSerializer(many=True))
    def get_photos(self, case: Case) -> list[dict[str, Any]]:
        photos = case.photos.order_by("position").select_related("case")
        return PhotoSerializer(photos, many=True, context=self.context).data  # type: ignore[return-value]

    @extend_schema_field(FindingSerializer(many=True))
    def get_findings(self, case: Case) -> list[dict[str, Any]]:
        findings = (
            Finding.objects.filter(case=case, model_version=case.model_version)
            .select_related("model_version", "photo")
            .order_by("photo__position", "index")
        )
        return FindingSerializer(findings, many=True).data  # type: ignore[return-value]


class CaseListSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(source="public_id", read_only=True)
    reference = serializers.CharField(read_only=True, help_text="Short reference for people")

    class Meta:
        model = Case
        fields = ["id", "reference", "status", "dsi", "created_at", "finished_at"]
        read_only_fields = fields


class WebhookSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ApiClient
        fields = ["webhook_url", "webhook_secret"]
        extra_kwargs = {
            "webhook_url": {
                "help_text": "Where finished cases are POSTed (https://); empty turns webhooks off"
            },
            "webhook_secret": {
                "write_only": True,
                "help_text": "The HMAC key of X-Claims-Signature-V2 (see docs/api.md); never "
                "shown again",
            },
        }

    def validate_webhook_url(self, value: str) -> str:
        if not value:
            return value  # an empty URL turns webhooks off
        try:
            webhook_target_check(url=value)
        except WebhookRefusedError as exc:
            raise serializers.ValidationError(exc.message) from exc
        return value


class ApiTokenSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    prefix = serializers.CharField(
        read_only=True, help_text="The token's first characters, to tell tokens apart"
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "scope", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The secret: send it as `Authorization: Bearer <token>`. It is shown this "
        "once and cannot be read again.",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(
        max_length=NAME_MAX_CHARS, help_text="What uses the token, e.g. 'fleet sync script'"
    )
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.WRITE,
        help_text="'read': GET only; 'write': everything the user may do",
    )


class TokenObtainSerializer(serializers.Serializer):  # type: ignore[type-arg]
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"})
    name = serializers.CharField(
        max_length=NAME_MAX_CHARS,
        default="script",
        help_text="A name for the new token, shown on the settings page",
    )
    scope = serializers.ChoiceField(choices=ApiToken.Scope.choices, default=ApiToken.Scope.WRITE)
