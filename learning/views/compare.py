"""Two model versions side by side, shadow evaluations and promotion with evidence (issue 11,
points 3 and 4). Admin pages: each view checks the role, calls the shadow module and renders."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from PIL import Image, ImageOps

from claims.models import Case, Photo
from common.access import require_admin
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest
from damage_vision.taxonomy import load_taxonomy
from inference.models import ModelVersion
from inference.services import rendering
from learning import plots, selectors, shadow
from learning.models import ShadowEvaluation
from learning.views.common import ADMIN_ONLY

NONE = "\u2013"  # an en dash: no figure
OVERLAY_LONG_SIDE = 560  # two photos side by side on a laptop screen


def _version(value: str | None, what: str) -> ModelVersion:
    if not value or not value.isdigit():
        raise Http404(f"Name the {what} version to compare as ?{what}=<id>.")
    return get_object_or_404(ModelVersion, pk=int(value))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fmt(value: object, digits: int = 3) -> str:
    number = _number(value)
    return NONE if number is None else f"{number:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return NONE if value is None else f"{value:+.{digits}f}"


def _flatten_numbers(metrics: object, prefix: tuple[str, ...] = ()) -> dict[str, float]:
    """The numbers of a manifest's metrics under the same "section · key" names as
    `selectors.metric_rows`."""
    out: dict[str, float] = {}
    if not isinstance(metrics, dict):
        return out
    for key, value in metrics.items():
        path = (*prefix, str(key))
        if isinstance(value, dict):
            out.update(_flatten_numbers(value, path))
        elif (number := _number(value)) is not None:
            out[" · ".join(path)] = number
    return out


def validation_rows(a: ModelVersion, b: ModelVersion) -> list[dict[str, str]]:
    """Every stored validation figure of either version, side by side, with b - a where
    both hold a number."""
    shown_a = dict(selectors.metric_rows(a.metrics))
    shown_b = dict(selectors.metric_rows(b.metrics))
    num_a = _flatten_numbers(a.metrics)
    num_b = _flatten_numbers(b.metrics)
    keys = list(dict.fromkeys([*shown_a, *shown_b]))
    rows = []
    for key in keys:
        diff = num_b[key] - num_a[key] if key in num_a and key in num_b else None
        rows.append(
            {
                "name": key,
                "a": shown_a.get(key, NONE),
                "b": shown_b.get(key, NONE),
                "difference": _signed(diff, 4),
            }
        )
    return rows


def _interval(boot: Mapping[str, Any], key: str, flip: bool) -> str:
    """The bootstrap interval of b - a for `key`; stored as candidate - baseline."""
    if "note" in boot:
        return str(boot["note"])
    entry = boot.get(key)
    if not isinstance(entry, dict):
        return NONE
    if "note" in entry:
        return str(entry["note"])
    low, high = float(entry["low"]), float(entry["high"])
    if flip:
        low, high = -high, -low
    return f"[{low:+.3f}, {high:+.3f}] ({round(boot['confidence'] * 100)}%)"


def shadow_rows(
    fa: Mapping[str, Any], fb: Mapping[str, Any], boot: Mapping[str, Any], flip: bool
) -> list[dict[str, str]]:
    rows = []
    for label, key in (
        ("cases", "cases"),
        ("photos", "photos"),
        ("findings", "findings"),
        ("correct findings", "correct"),
        ("kept regions (truth)", "truth_regions"),
        ("kept regions found", "truth_found"),
        *shadow.HEADLINE_SHADOW,
    ):
        va, vb = _number(fa.get(key)), _number(fb.get(key))
        counts = ("cases", "photos", "findings", "correct", "truth_regions", "truth_found")
        digits = 0 if key in counts else 3
        rows.append(
            {
                "name": label,
                "a": _fmt(va, digits),
                "b": _fmt(vb, digits),
                "difference": _signed(
                    vb - va if va is not None and vb is not None else None, digits
                ),
                "interval": _interval(boot, key, flip) if key in ("precision", "recall") else "",
            }
        )
    return rows


def per_class_rows(fa: Mapping[str, Any], fb: Mapping[str, Any]) -> list[dict[str, str]]:
    pa, pb = fa.get("per_class", {}), fb.get("per_class", {})
    rows = []
    for name in sorted(set(pa) | set(pb)):
        ca, cb = pa.get(name, {}), pb.get(name, {})
        rows.append(
            {
                "name": name,
                "a": f"{_fmt(ca.get('precision'))} / {_fmt(ca.get('recall'))} "
                f"({ca.get('findings', 0)} findings, {ca.get('truth', 0)} kept)",
                "b": f"{_fmt(cb.get('precision'))} / {_fmt(cb.get('recall'))} "
                f"({cb.get('findings', 0)} findings, {cb.get('truth', 0)} kept)",
                "iou_a": _fmt(fa.get("iou", {}).get(name)),
                "iou_b": _fmt(fb.get("iou", {}).get(name)),
            }
        )
    return rows


def _iou_values(metrics: object, path: tuple[str, ...]) -> dict[str, float | None]:
    for key in path:
        metrics = metrics.get(key) if isinstance(metrics, dict) else None
    if not isinstance(metrics, dict):
        return {}
    return {str(k): _number(v) for k, v in metrics.items()}


def _curve_points(figures: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [
        (float(p["coverage"]), float(p["precision"]))
        for p in figures.get("curve", [])
        if p.get("coverage") is not None and p.get("precision") is not None
    ]


def comparison_plots(
    a: ModelVersion, b: ModelVersion, fa: Mapping[str, Any], fb: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(caption, SVG) of the shadow figures: IoU bars, two confusion matrices, two
    reliability diagrams and the precision-coverage curves."""
    name_a, name_b = f"A: {a}", f"B: {b}"
    out: list[tuple[str, str]] = []
    out.append(
        (
            "Per-class IoU of the damage maps on the reviewed photos",
            plots.grouped_bars_svg(
                "Per-class IoU on the reviewed photos",
                {name_a: fa.get("iou", {}), name_b: fb.get("iou", {})},
            ),
        )
    )
    for name, figures in ((name_a, fa), (name_b, fb)):
        confusion = figures.get("confusion", {})
        with contextlib.suppress(ValueError, TypeError, KeyError):
            out.append(
                (
                    f"Pixel confusion matrix of {name} (rows: truth, share of the row)",
                    plots.confusion_svg(
                        f"Confusion matrix of {name}",
                        confusion["labels"],
                        confusion["matrix"],
                        unit="px",
                    ),
                )
            )
    for name, figures in ((name_a, fa), (name_b, fb)):
        with contextlib.suppress(ValueError, TypeError, KeyError):
            out.append(
                (
                    f"Reliability of C_refined of {name} on the reviewed photos",
                    plots.reliability_svg(
                        plots.stored_reliability_bins(figures["reliability"]["bins"]),
                        title=f"Reliability of {name}",
                        x_label="C_refined",
                        y_label="share of findings correct",
                    ),
                )
            )
    target = a.target_precision if a.target_precision == b.target_precision else None
    out.append(
        (
            "Precision against coverage of the findings, highest C_refined first",
            plots.curves_svg(
                "Precision-coverage curves",
                {name_a: _curve_points(fa), name_b: _curve_points(fb)},
                x_label="coverage (share of findings released)",
                y_label="precision of released findings",
                target=target,
            ),
        )
    )
    return out


def _disagreement_items(
    evaluation: ShadowEvaluation, a: ModelVersion, b: ModelVersion, flip: bool
) -> list[dict[str, Any]]:
    rows = evaluation.figures.get("disagreements", [])
    per_case: dict[str, dict[int, Mapping[str, Any]]] = {
        side: {r["case"]: r for r in evaluation.figures.get(side, {}).get("per_case", [])}
        for side in ("candidate", "baseline")
    }
    cases = Case.objects.in_bulk([r["case"] for r in rows])
    photos = Photo.objects.in_bulk([r["photo"] for r in rows if r.get("photo")])
    side_a, side_b = ("baseline", "candidate") if flip else ("candidate", "baseline")
    out = []
    for row in rows:
        case, photo = cases.get(row["case"]), photos.get(row.get("photo") or 0)
        if case is None or photo is None:
            continue
        ra, rb = per_case[side_a].get(case.pk, {}), per_case[side_b].get(case.pk, {})
        out.append(
            {
                "case": case,
                "photo": photo,
                "a": ra,
                "b": rb,
                "overlay_a": reverse(
                    "learning:model_compare_overlay", args=[evaluation.pk, a.pk, photo.pk]
                ),
                "overlay_b": reverse(
                    "learning:model_compare_overlay", args=[evaluation.pk, b.pk, photo.pk]
                ),
            }
        )
    return out


@login_required
@require_GET
def model_compare(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    given = {key: request.GET.get(key, "") for key in ("a", "b")}
    missing = [key for key, value in given.items() if not value]
    if len(missing) == 1:
        # One version named: compare it with the active one (the models list links so).
        active = selectors.model_version_active()
        if active is None:
            raise Http404("No version is active; name both versions as ?a=<id>&b=<id>.")
        given[missing[0]] = str(active.pk)
        return redirect(f"{reverse('learning:model_compare')}?a={given['a']}&b={given['b']}")
    a = _version(given["a"], "a")
    b = _version(given["b"], "b")
    if a.pk == b.pk:
        raise Http404("Choose two different versions to compare.")
    evaluation = shadow.evaluation_for_pair(a=a, b=b)
    background = selectors.background_classes(a, b)
    validation_plots = []
    for title, path in (
        ("Per-class damage IoU (stored validation)", ("segmentation_validation", "damage_iou")),
        ("Per-class IoU (stored)", ("per_class_iou",)),
    ):
        series = {
            f"{side}: {v}": plots.without(_iou_values(v.metrics, path), background)
            for side, v in (("A", a), ("B", b))
        }
        if any(series.values()):
            validation_plots.append((title, plots.grouped_bars_svg(title, series)))
    context: dict[str, Any] = {
        "validation_plots": validation_plots,
        "a": a,
        "b": b,
        "evaluation": evaluation,
        "validation": validation_rows(a, b),
        "headline_a": selectors.headline_metrics(a.metrics),
        "headline_b": selectors.headline_metrics(b.metrics),
        "open_evaluations": ShadowEvaluation.objects.filter(
            candidate__in=[a, b],
            status__in=[ShadowEvaluation.Status.QUEUED, ShadowEvaluation.Status.RUNNING],
        ).select_related("candidate"),
        "failed": ShadowEvaluation.objects.filter(
            candidate__in=[a, b], baseline__in=[a, b], status=ShadowEvaluation.Status.FAILED
        )
        .order_by("-created_at")
        .first(),
    }
    if evaluation is not None:
        flip = evaluation.candidate_id != a.pk  # stored as candidate, baseline
        figures = evaluation.figures
        fa = figures["baseline" if flip else "candidate"]
        fb = figures["candidate" if flip else "baseline"]
        context |= {
            "shadow_rows": shadow_rows(fa, fb, figures.get("bootstrap", {}), flip),
            "per_class": per_class_rows(fa, fb),
            "plots": comparison_plots(a, b, fa, fb),
            "disagreements": _disagreement_items(evaluation, a, b, flip),
            "interval_note": figures.get("bootstrap", {}).get("note", ""),
        }
    promotable = [v for v in (a, b) if v.status != ModelVersion.Status.ACTIVE]
    if len(promotable) == 1:  # the other one is the active version
        context["promote"] = promotable[0]
        context["promote_evaluation"] = (
            evaluation
            if evaluation is not None and evaluation.candidate_id == promotable[0].pk
            else None
        )
    return render(request, "learning/compare.html", context)


@login_required
@require_GET
def model_compare_overlay(
    request: HttpRequest, evaluation_id: int, version_id: int, photo_id: int
) -> HttpResponse:
    """A photo with one version's shadow findings drawn on it (JPEG)."""
    require_admin(request.user, ADMIN_ONLY)
    evaluation = get_object_or_404(ShadowEvaluation, pk=evaluation_id)
    if version_id not in (evaluation.candidate_id, evaluation.baseline_id):
        raise Http404("That version is not part of this evaluation.")
    photo = get_object_or_404(Photo, pk=photo_id, case_id__in=evaluation.case_ids)
    version = get_object_or_404(ModelVersion, pk=version_id)
    regions = shadow.shadow_regions(evaluation=evaluation, version=version, photo=photo)
    source = photo.display if photo.display else photo.original
    with source.open("rb") as fh, Image.open(fh) as img:
        oriented = ImageOps.exif_transpose(img) if not photo.display else img
        annotated = rendering.render(
            oriented,
            regions,
            (photo.width, photo.height),
            load_taxonomy(version.damage_taxonomy),
            words=lambda name: name.replace("_", " "),
            long_side=OVERLAY_LONG_SIDE,
        )
    buffer = io.BytesIO()
    annotated.image.save(buffer, "JPEG", quality=rendering.JPEG_QUALITY)
    response = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def shadow_evaluation_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMIN_ONLY)
    version = get_object_or_404(ModelVersion, pk=pk)
    raw = request.POST.get("n", "").strip()
    if not raw.isdigit():
        messages.error(
            request,
            f"How many reviewed cases? Give a whole number from 1 to {shadow.SHADOW_MAX_CASES}.",
        )
        return redirect("learning:model_version", pk=pk)
    try:
        evaluation = shadow.shadow_evaluation_create(
            candidate=version, n=int(raw), user=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("learning:model_version", pk=pk)
    excluded = len(evaluation.excluded_case_ids)
    messages.success(
        request,
        f"Shadow evaluation {evaluation.pk} of {version} against {evaluation.baseline} queued "
        f"on {len(evaluation.case_ids)} reviewed cases"
        + (f" ({excluded} left out: {version} was trained on them)" if excluded else "")
        + ". Its figures appear here when it is done.",
    )
    return redirect("learning:model_version", pk=pk)
