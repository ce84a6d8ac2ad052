"""One case on the review screen: the decisions in force, the items to decide, contests,
rounds and reports, the classes a person may choose, and what a finished round keeps
(`reviewed_outcome`, derived once and stored with its report; `report_outcome` reads it
back)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import (
    prefetch_related_objects,
)

from claims.models import Case, Photo
from claims.wording import damage_words, part_words
from common.errors import ApplicationError
from damage_vision.pipeline.grouping import OTHER_PANEL
from damage_vision.pipeline.severity import severity_terms
from damage_vision.release import needs_review, released
from damage_vision.taxonomy import TaxonomyError, load_taxonomy
from inference.models import Finding
from review.models import Contest, MaskEdit, ReviewDecision, ReviewedReport, ReviewRound
from review.outcome import KeptDamage, ReviewOutcome
from review.rle import Rle


@dataclass(frozen=True)
class ReviewItem:
    """One line of the review screen: a model finding, an added damage or a set-aside photo."""

    key: str  # stable while the item is redrawn: an added damage by its first decision
    kind: str  # "finding" | "added" | "photo"
    photo: Photo
    state: str  # "pending" | "auto" | "accepted" | "rejected" | "edited" | "added" | "confirmed"
    label: str  # in words: "2. Door: dent or deformation (photo 1)"
    part: str
    damage: str
    c_refined: float | None
    finding: Finding | None
    decision: ReviewDecision | None
    number: int | None = None  # on its photo: the model's findings 1..n, then the added
    code: str = ""  # the class names, for those who want them: "deformity on door_shell"

    @property
    def needs_review(self) -> bool:
        return self.state == "pending"


@dataclass
class DecisionsInForce:
    latest: dict[int, ReviewDecision]  # by finding: the last decision on it
    # Damages an adjuster drew, as last redrawn (not those taken off again), in the order
    # they were first added.
    added: list[ReviewDecision]
    confirmed: set[int]  # photos whose setting aside an adjuster confirmed
    # An added damage's first decision, by each decision of its chain (its stable name).
    origin: dict[int, int] = field(default_factory=dict)


def decisions_in_force(*, case: Case) -> DecisionsInForce:
    """What the adjusters decided on `case`: the current decisions. An added damage
    redrawn or taken off is a chain of decisions, each replacing the one before: the last
    one counts (a removal: none)."""
    rows = ReviewDecision.objects.filter(case=case, current=True)
    out = DecisionsInForce(latest={}, added=[], confirmed=set())
    decisions = list(
        rows.select_related("mask_edit", "photo", "reviewer").order_by("decided_at", "pk")
    )
    drawn_actions = (ReviewDecision.Action.ADD, ReviewDecision.Action.REMOVE)
    drawn = [(d.pk, d.replaces_id) for d in decisions if d.action in drawn_actions]
    replaced = {before for _pk, before in drawn if before is not None}
    if replaced:
        # The current decisions lack the ones they replaced: read the chains whole (only
        # on a case whose added damages were changed).
        drawn = list(
            ReviewDecision.objects.filter(case=case, action__in=drawn_actions).values_list(
                "pk", "replaces_id"
            )
        )
    before_of = dict(drawn)
    for pk in before_of:
        first = pk
        while before_of.get(first) is not None:
            first = before_of[first]  # type: ignore[assignment]
        out.origin[pk] = first
    for d in decisions:
        if d.finding_id is not None:
            out.latest[d.finding_id] = d
        elif d.action == ReviewDecision.Action.ADD and d.pk not in replaced:
            out.added.append(d)
        elif d.action == ReviewDecision.Action.CONFIRM_SET_ASIDE:
            out.confirmed.add(d.photo_id)
    out.added.sort(key=lambda d: out.origin.get(d.pk, d.pk))
    return out


def item_words(number: int, part: str, damage: str, photo: Photo, *, added: bool = False) -> str:
    """A line of the review screen in words: "2. Door: dent or deformation (photo 1)"."""
    where = f"photo {photo.position + 1}{', added' if added else ''}"
    text = part_words(part)
    return f"{number}. {text[:1].upper()}{text[1:]}: {damage_words(damage)} ({where})"


def case_review_items(*, case: Case) -> list[ReviewItem]:
    version = case.model_version
    decided = decisions_in_force(case=case)
    latest, added, confirmed = decided.latest, decided.added, decided.confirmed
    d: ReviewDecision | None
    photos = {p.pk: p for p in case.photos.order_by("position")}
    items: list[ReviewItem] = []
    for photo in photos.values():
        if photo.status == Photo.Status.SET_ASIDE:
            items.append(
                ReviewItem(
                    key=f"p{photo.pk}",
                    kind="photo",
                    photo=photo,
                    state="confirmed" if photo.pk in confirmed else "pending",
                    label=f"Photo {photo.position + 1} set aside",
                    part="",
                    damage="",
                    c_refined=None,
                    finding=None,
                    decision=None,
                )
            )
    findings = (
        Finding.objects.filter(case=case, model_version=version)
        .select_related("model_version")
        .order_by("c_refined", "photo__position", "index")
    )
    # Numbers on each photo: the model's findings under the numbers of the model's own
    # annotated photo (its index + 1), the added damages after them in the order added.
    last_number: dict[int, int] = {}
    for f in findings:
        last_number[f.photo_id] = max(last_number.get(f.photo_id, 0), f.index + 1)
    for f in findings:
        d = latest.get(f.pk)
        below = needs_review(f.c_refined, f.model_version.threshold)
        state = ReviewDecision.Action(d.action).label if d else ("pending" if below else "auto")
        part = d.part if d and d.part else f.part
        damage = d.damage_type if d and d.damage_type else f.damage
        photo = photos[f.photo_id]
        items.append(
            ReviewItem(
                key=f"f{f.pk}",
                kind="finding",
                photo=photo,
                state=state,
                label=item_words(f.index + 1, part, damage, photo),
                part=part,
                damage=damage,
                c_refined=f.c_refined,
                finding=f,
                decision=d,
                number=f.index + 1,
                code=f"{f.damage} on {f.part}"
                + (f", now {damage} on {part}" if (part, damage) != (f.part, f.damage) else ""),
            )
        )
    for d in added:
        photo = photos[d.photo_id]
        last_number[photo.pk] = last_number.get(photo.pk, 0) + 1
        number = last_number[photo.pk]
        items.append(
            ReviewItem(
                key=f"a{decided.origin.get(d.pk, d.pk)}",
                kind="added",
                photo=photo,
                state="added",
                label=item_words(number, d.part, d.damage_type, photo, added=True),
                part=d.part,
                damage=d.damage_type,
                c_refined=None,
                finding=None,
                decision=d,
                number=number,
                code=f"{d.damage_type} on {d.part}",
            )
        )

    # What is left to decide first, lowest confidence first; then the rest by photo and
    # number, the order of the numbers on the photos.
    def order(i: ReviewItem) -> tuple[int, float, int, int]:
        if i.state == "pending":
            return (0, i.c_refined if i.c_refined is not None else -1.0, 0, 0)
        return (1, 0.0, i.photo.position, i.number or 0)

    return sorted(items, key=order)


def case_contests(*, case: Case) -> list[Contest]:
    """The case's contests, oldest first, with who wrote and who answered them. Most cases
    have none: one plain query then, instead of a five-table join that costs PostgreSQL
    more to plan (about 2 ms) than to run."""
    contests = list(Contest.objects.filter(case=case).order_by("created_at", "pk"))
    prefetch_related_objects(contests, "created_by", "answered_by", "finding", "photo")
    return contests


def case_open_round(*, case: Case) -> ReviewRound | None:
    return ReviewRound.objects.filter(case=case, finished_at__isnull=True).first()


def case_latest_report(*, case: Case) -> ReviewedReport | None:
    return (
        case.reviewed_reports.order_by("-created_at", "-pk").select_related("reviewed_by").first()
    )


def taxonomy_classes(name: str, keep_first: bool = False) -> list[str]:
    """Class names a person may choose; with `keep_first`, first the class for "none of
    these" (parts: "other_panel", a part the taxonomy does not label; damage: no damage).
    A taxonomy that cannot be loaded raises `ApplicationError`: choosing from an empty
    list would hide a broken installation."""
    try:
        taxonomy = load_taxonomy(name)
    except TaxonomyError as exc:
        raise ApplicationError(
            f"The taxonomy {name!r} of this model version cannot be loaded ({exc}); "
            "reinstall the version or register it again."
        ) from None
    classes = taxonomy.classes
    if not keep_first:
        return list(classes[1:])
    first = OTHER_PANEL if taxonomy.kind == "parts" else classes[0]
    return [first, *classes[1:]]


# The reviewed report ----------------------------------------------------------------------


def reviewed_outcome(*, case: Case) -> ReviewOutcome:
    """What the reviewed report of `case` keeps, from the decisions in force: the one
    derivation of what an adjuster kept and how it scores. `case_finish_review` stores it
    with the report; everyone else reads it back (`report_outcome`).

    A finding nobody decided is kept when its version's threshold releases it, with the
    model's terms; an accepted one scores with confidence 1 (a person saw it); a redrawn
    one with confidence 1 and its drawn share of the photo, its size scaled to the drawn
    mask; a rejected one is dropped. Damages an adjuster added follow, each as last
    redrawn, re-typed or moved (one taken off again is not kept), in the order they were
    first added. What is kept is numbered 1, 2, ... on each photo, the model's findings in
    the model's order, then the added ones: a rejected finding leaves no gap."""
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

    def drawn_score(edit: MaskEdit, damage: str, fallback: float) -> float:
        share = edit.area_px / (edit.width * edit.height)
        return severity_terms(share, 1.0, weight(damage, fallback)).score

    numbered: dict[int, int] = {}  # by photo: the last number given there

    def kept_damage(
        *,
        photo: Photo,
        part: str,
        damage: str,
        score: float,
        area_cm2: float | None,
        source: str,
        finding: Finding | None,
        decision: ReviewDecision | None,
    ) -> KeptDamage:
        edit = decision.mask_edit if decision is not None else None
        if edit is not None:  # where the adjuster drew it, at the photo's full size
            box, grid, mask, shape = edit.box, (edit.width, edit.height), edit.rle, edit.shape
        else:  # the model's outline, in its processed grid
            assert finding is not None
            box, grid = finding.box, (finding.mask_size[0], finding.mask_size[1])
            mask, shape = Rle.from_coco(finding.mask_rle), finding.shape
        # Numbered 1, 2, ... on its photo in the order kept: a rejected finding leaves no
        # gap in the customer's numbers.
        numbered[photo.pk] = numbered.get(photo.pk, 0) + 1
        return KeptDamage(
            part=part,
            damage=damage,
            photo_id=photo.pk,
            photo_number=photo.position + 1,
            number=numbered[photo.pk],
            score=score,
            area_cm2=area_cm2,
            shape=shape,
            source=source,
            finding_id=finding.pk if finding is not None else None,
            decision_id=decision.pk if decision is not None else None,
            box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])),
            grid=(int(grid[0]), int(grid[1])),
            mask=mask,
        )

    decided = decisions_in_force(case=case)
    findings = list(
        Finding.objects.filter(case=case, model_version=version)
        .select_related("photo", "model_version")
        .order_by("photo__position", "index")
    )
    kept: list[KeptDamage] = []
    rejected: list[int] = []
    for f in findings:
        d = decided.latest.get(f.pk)
        if d is None:
            if released(f.c_refined, f.model_version.threshold):  # else: waits for a decision
                kept.append(
                    kept_damage(
                        photo=f.photo,
                        finding=f,
                        decision=d,
                        part=f.part,
                        damage=f.damage,
                        score=f.dsi_score,
                        area_cm2=f.area_cm2,
                        source="model",
                    )
                )
        elif d.action == ReviewDecision.Action.REJECT:
            rejected.append(f.pk)
        elif d.action == ReviewDecision.Action.ACCEPT:
            score = severity_terms(f.dsi_area / 100.0, 1.0, weight(f.damage, f.dsi_type_weight))
            kept.append(
                kept_damage(
                    photo=f.photo,
                    finding=f,
                    decision=d,
                    part=f.part,
                    damage=f.damage,
                    score=score.score,
                    area_cm2=f.area_cm2,
                    source="accepted",
                )
            )
        else:
            edit = d.mask_edit
            assert edit is not None
            area = None
            if f.area_cm2 and f.area_px:
                # The photo's scale (cm² per grid pixel) times the drawn area in grid pixels.
                share = edit.area_px / (edit.width * edit.height)
                area = f.area_cm2 / f.area_px * share * f.mask_size[0] * f.mask_size[1]
            kept.append(
                kept_damage(
                    photo=f.photo,
                    finding=f,
                    decision=d,
                    part=d.part,
                    damage=d.damage_type,
                    score=drawn_score(edit, d.damage_type, f.dsi_type_weight),
                    area_cm2=area,
                    source="edited",
                )
            )
    for d in decided.added:  # each as last redrawn, in the order first added
        edit = d.mask_edit
        assert edit is not None
        kept.append(
            kept_damage(
                photo=d.photo,
                part=d.part,
                damage=d.damage_type,
                score=drawn_score(edit, d.damage_type, 0.0),
                area_cm2=None,
                source="added",
                finding=None,
                decision=d,
            )
        )
    return ReviewOutcome.of(kept=kept, rejected_findings=rejected)


def report_outcome(*, report: ReviewedReport) -> ReviewOutcome | None:
    """What `report` keeps and its figures, as stored when the adjuster finished; None for
    a report from before outcomes were stored that its decisions did not give back
    (review 0009 says why)."""
    return None if report.outcome is None else ReviewOutcome.from_json(report.outcome)


def round_report(*, case_id: int, round_number: int) -> ReviewedReport | None:
    """The reviewed report that finished round `round_number` of the case."""
    return ReviewedReport.objects.filter(case_id=case_id, round=round_number).first()
