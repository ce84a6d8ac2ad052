"""A reviewed report stores what it keeps (`outcome`: `review.outcome.ReviewOutcome` as
JSON) and the round it finished (`round`), so that every reader reads the report as the
adjuster finished it instead of recomputing it from the decisions.

Existing reports: each is paired with the round it finished (the finished round of its
case whose `finished_at` is the report's `created_at`: `case_finish_review` writes both
with one timestamp, and 0003 gave older cases a round 1 finished when their last report
was written). For a paired report the outcome is derived once, here, from the decisions
in force when that round finished, by a copy of the rule as it stands today
(`review.selectors.reviewed_outcome`; the scoring comes from the library), and it is
stored only when it gives back exactly what the report stored: the same rows (part,
damage, photos, sources), the same DSI and the same kept, rejected and added counts, the
check the customer's page made on every view until now. A later change to the library
can then leave an outcome out, not store one that disagrees with its report.

A report its decisions no longer give (a version's threshold or a taxonomy's weights
changed since it was finished, a stored mask that cannot be read) and an older report
that finished no recorded round keep `outcome` empty: deriving one anyway would make up
a report the adjuster never finished. The customer's page shows such a report's stored
rows without figures or outlines, as it did before; the label export and the shadow
evaluation leave the case out (before, they read its current decisions). Reopening and
finishing the case again stores a full report.
"""

from typing import Any

from django.db import migrations, models

from damage_vision.pipeline.severity import case_dsi, dsi, severity_terms
from damage_vision.release import released
from damage_vision.taxonomy import TaxonomyError, load_taxonomy


def _outcome(apps: Any, report: Any, round_number: int) -> dict[str, Any]:
    """The outcome of `report`'s round, as `ReviewOutcome.to_json` writes it."""
    Finding = apps.get_model("inference", "Finding")
    ReviewDecision = apps.get_model("review", "ReviewDecision")
    case = report.case
    version = case.model_version
    try:
        taxonomy = load_taxonomy(version.damage_taxonomy) if version else None
    except TaxonomyError:
        taxonomy = None

    def weight(damage: str, fallback: float) -> float:
        try:
            return taxonomy.dsi_weight(damage) if taxonomy else fallback
        except TaxonomyError:
            return fallback

    def drawn_score(edit: Any, damage: str, fallback: float) -> float:
        share = edit.area_px / (edit.width * edit.height)
        return severity_terms(share, 1.0, weight(damage, fallback)).score

    latest: dict[int, Any] = {}
    added: list[Any] = []
    for d in (
        ReviewDecision.objects.filter(case=case, round__lte=round_number)
        .select_related("mask_edit", "photo")
        .order_by("decided_at", "pk")
    ):
        if d.finding_id is not None:
            latest[d.finding_id] = d
        elif d.action == "add":
            added.append(d)

    numbered: dict[int, int] = {}  # by photo: 1, 2, ... in the order kept, no gaps

    def kept(
        at: tuple[Any, Any, Any], part: str, damage: str, score: float, area: Any, source: str
    ) -> dict[str, Any]:
        photo, finding, decision = at
        numbered[photo.pk] = numbered.get(photo.pk, 0) + 1
        edit = decision.mask_edit if decision is not None else None
        if edit is not None:
            box, grid = edit.box, [edit.width, edit.height]
            mask, shape = {"size": [edit.height, edit.width], "counts": edit.counts}, edit.shape
        else:
            box, grid = finding.box, [finding.mask_size[0], finding.mask_size[1]]
            mask, shape = finding.mask_rle, finding.shape
        return {
            "part": part,
            "damage": damage,
            "photo": photo.pk,
            "photo_number": photo.position + 1,
            "number": numbered[photo.pk],
            "score": score,
            "area_cm2": area,
            "shape": shape,
            "source": source,
            "finding": finding.pk if finding is not None else None,
            "decision": decision.pk if decision is not None else None,
            "box": [int(v) for v in box],
            "grid": [int(v) for v in grid],
            "mask": {"size": [int(v) for v in mask["size"]], "counts": mask["counts"]},
        }

    findings = list(
        Finding.objects.filter(case=case, model_version=version)
        .select_related("photo", "model_version")
        .order_by("photo__position", "index")
    )
    out: list[dict[str, Any]] = []
    rejected: list[int] = []
    for f in findings:
        d = latest.get(f.pk)
        at = (f.photo, f, d)
        if d is None:
            if released(f.c_refined, f.model_version.threshold):
                out.append(kept(at, f.part, f.damage, f.dsi_score, f.area_cm2, "model"))
        elif d.action == "reject":
            rejected.append(f.pk)
        elif d.action == "accept":
            score = severity_terms(f.dsi_area / 100.0, 1.0, weight(f.damage, f.dsi_type_weight))
            out.append(kept(at, f.part, f.damage, score.score, f.area_cm2, "accepted"))
        else:
            edit = d.mask_edit
            area = None
            if f.area_cm2 and f.area_px:
                share = edit.area_px / (edit.width * edit.height)
                area = f.area_cm2 / f.area_px * share * f.mask_size[0] * f.mask_size[1]
            score = drawn_score(edit, d.damage_type, f.dsi_type_weight)
            out.append(kept(at, d.part, d.damage_type, score, area, "edited"))
    for d in added:
        score = drawn_score(d.mask_edit, d.damage_type, 0.0)
        at = (d.photo, None, d)
        out.append(kept(at, d.part, d.damage_type, score, None, "added"))

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    by_photo: dict[int, list[float]] = {}
    by_row: dict[tuple[str, str], list[float]] = {}
    for k in out:
        key = (k["part"], k["damage"])
        row = rows.setdefault(
            key, {"part": k["part"], "damage": k["damage"], "photos": [], "sources": []}
        )
        if k["photo_number"] not in row["photos"]:
            row["photos"].append(k["photo_number"])
        row["sources"].append(k["source"])
        by_photo.setdefault(k["photo"], []).append(k["score"])
        by_row.setdefault(key, []).append(k["score"])
    return {
        "kept": out,
        "rejected_findings": rejected,
        "dsi": round(case_dsi(by_row.values()), 4),
        "photo_dsi": {str(photo): dsi(scores) for photo, scores in by_photo.items()},
        "damaged_parts": [rows[key] for key in sorted(rows)],
    }


def _gives_back(outcome: dict[str, Any], report: Any) -> bool:
    """Whether `outcome` is exactly what `report` stored."""

    def rows(parts: Any) -> dict[tuple[str, str], tuple[list[int], list[str]]]:
        return {
            (r["part"], r["damage"]): (sorted(set(r["photos"])), sorted(r["sources"]))
            for r in parts
        }

    added = sum(1 for k in outcome["kept"] if k["source"] == "added")
    return (
        rows(outcome["damaged_parts"]) == rows(report.damaged_parts)
        and outcome["dsi"] == round(report.dsi, 4)
        and (len(outcome["kept"]) - added, len(outcome["rejected_findings"]), added)
        == (report.kept, report.rejected, report.added)
    )


def backfill(apps: Any, schema_editor: Any) -> None:
    ReviewedReport = apps.get_model("review", "ReviewedReport")
    ReviewRound = apps.get_model("review", "ReviewRound")
    finished = {
        (case_id, finished_at): number
        for case_id, finished_at, number in ReviewRound.objects.filter(
            finished_at__isnull=False
        ).values_list("case_id", "finished_at", "number")
    }
    reports = ReviewedReport.objects.select_related("case__model_version").order_by("pk")
    for report in reports.iterator():
        round_number = finished.get((report.case_id, report.created_at))
        if round_number is None:
            continue
        try:
            outcome: dict[str, Any] | None = _outcome(apps, report, round_number)
        except (KeyError, TypeError, ValueError):  # a stored mask or box that cannot be read
            outcome = None
        if outcome is not None and not _gives_back(outcome, report):
            outcome = None
        ReviewedReport.objects.filter(pk=report.pk).update(round=round_number, outcome=outcome)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0004_run_heartbeat"),
        ("review", "0008_lifecycle_to_learning"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewedreport",
            name="round",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="The review round it finished; empty for reports older than the rounds.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="reviewedreport",
            name="outcome",
            field=models.JSONField(
                blank=True,
                help_text=(
                    "What the report keeps and its figures (review.outcome.ReviewOutcome); "
                    "empty for an older report its decisions no longer give (review 0009)."
                ),
                null=True,
            ),
        ),
        # Before the rows are filled: PostgreSQL alters no table with updates pending.
        migrations.AddConstraint(
            model_name="reviewedreport",
            constraint=models.UniqueConstraint(
                fields=("case", "round"), name="review_report_one_per_round"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
