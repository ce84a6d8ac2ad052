"""Physical sizes: a scale only from plausible reference parts, never a damage larger than
its part, on synthetic part maps whose answers are known."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.sizing import (
    NO_PART_LARGER_CM2,
    ScaleEstimate,
    physical_area,
    reference_instances,
    reference_scale,
)
from damage_vision.taxonomy import (
    TaxonomyError,
    load_taxonomy,
    load_taxonomy_file,
    taxonomy_from_dict,
)

PARTS = load_taxonomy("parts_reduced_dsmlr")  # 1 bumper, ..., 5 door_shell, 7 wheel
BUMPER, DOOR, WHEEL = PARTS.index("bumper"), PARTS.index("door_shell"), PARTS.index("wheel")
SETTINGS = PipelineSettings()  # min_reference_px 400, depth_rel_sd 0.25, 8-connected
WHEEL_REL = 500.0 / 3100.0  # sd_cm2 / area_cm2 of the wheel in parts_reduced_dsmlr.yaml
DOOR_REL = 2000.0 / 9000.0


def ellipse(
    shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float | None = None
) -> np.ndarray:
    """Pixels whose centres lie in the axis-aligned ellipse (a disc when rx is None)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    rx = ry if rx is None else rx
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def part_map(*regions: tuple[np.ndarray, int], shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A part map of bumper everywhere (a car filling the photo) with the regions on top."""
    labels = np.full(shape, BUMPER, dtype=np.uint8)
    for mask, index in regions:
        labels[mask] = index
    return labels


def problems(labels: np.ndarray) -> list[tuple[str, int, str | None]]:
    return [(i.part, i.area_px, i.problem) for i in reference_instances(labels, PARTS, SETTINGS)]


def test_a_round_wheel_of_known_diameter_gives_area_over_pixels() -> None:
    wheel = ellipse((120, 160), 60, 80, 20)  # 41 px across; Gauss's circle count N(20)
    assert int(wheel.sum()) == 1257
    scale = reference_scale(part_map((wheel, WHEEL)), PARTS, SETTINGS)
    assert scale is not None
    assert scale.cm2_per_px == pytest.approx(3100.0 / 1257, rel=1e-12)
    assert scale.rel_sd == pytest.approx(math.hypot(WHEEL_REL, 0.25), rel=1e-12)
    assert scale.references == ("wheel",)


def test_a_wheel_seen_at_up_to_60_degrees_still_counts() -> None:
    # Axis ratio 0.55 (cos 57 degrees), tilted by camera roll: still a whole wheel.
    yy, xx = np.mgrid[0:120, 0:160]
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    u, v = (xx - 80) * c + (yy - 60) * s, -(xx - 80) * s + (yy - 60) * c
    tilted = (u / 14.0) ** 2 + (v / 25.5) ** 2 <= 1.0
    assert problems(part_map((tilted, WHEEL))) == [("wheel", int(tilted.sum()), None)]


@pytest.mark.parametrize(
    ("name", "mask", "problem"),
    [
        # A wheel cut by the left border of the photo.
        ("cut off", ellipse((120, 160), 60, 10, 20), "touches_border"),
        # Seen at 70 degrees (axis ratio 0.35) or a long dark strip: not a wheel's view.
        ("elongated", ellipse((120, 160), 60, 80, 30, 10.5), "elongated"),
        # A tyre without its rim: 1257 - 317 px with a hole of 317 (N(10) = 317).
        (
            "ring",
            ellipse((120, 160), 60, 80, 20) & ~ellipse((120, 160), 60, 80, 10),
            "holed",
        ),
        # The top quarter of the wheel under the wheel arch: rows 50 to 80 of a 41 px disc.
        (
            "hidden top",
            ellipse((120, 160), 60, 80, 20) & (np.arange(120) >= 50)[:, None],
            "not_round",
        ),
        # A square block of "wheel" pixels.
        (
            "square",
            np.pad(np.ones((40, 40), bool), ((40, 40), (60, 60))),
            "not_round",
        ),
    ],
)
def test_an_implausible_wheel_gives_no_scale(name: str, mask: np.ndarray, problem: str) -> None:
    labels = part_map((mask, WHEEL))
    assert problems(labels) == [("wheel", int(mask.sum()), problem)], name
    assert reference_scale(labels, PARTS, SETTINGS) is None


def test_the_ring_and_cut_wheel_pixel_counts() -> None:
    ring = ellipse((120, 160), 60, 80, 20) & ~ellipse((120, 160), 60, 80, 10)
    assert int(ring.sum()) == 1257 - 317
    cut = ellipse((120, 160), 60, 10, 20)
    assert problems(part_map((cut, WHEEL)))[0][1] == int(cut.sum())


def test_a_door_rectangle_gives_area_over_pixels() -> None:
    door = np.zeros((120, 160), dtype=bool)
    door[30:90, 20:120] = True  # 60 x 100 = 6000 px, width / height 1.67
    scale = reference_scale(part_map((door, DOOR)), PARTS, SETTINGS)
    assert scale is not None
    assert scale.cm2_per_px == pytest.approx(9000.0 / 6000, rel=1e-12)
    assert scale.rel_sd == pytest.approx(math.hypot(DOOR_REL, 0.25), rel=1e-12)
    assert scale.references == ("door_shell",)


def test_wheel_and_door_are_combined_by_inverse_variance() -> None:
    door = np.zeros((120, 160), dtype=bool)
    door[10:60, 10:100] = True  # 4500 px: 2.0 cm^2 per px
    wheel = ellipse((120, 160), 90, 130, 20)  # 1257 px
    scale = reference_scale(part_map((door, DOOR), (wheel, WHEEL)), PARTS, SETTINGS)
    assert scale is not None
    w_door, w_wheel = 1 / DOOR_REL**2, 1 / WHEEL_REL**2
    expected = (w_door * 2.0 + w_wheel * 3100.0 / 1257) / (w_door + w_wheel)
    assert scale.cm2_per_px == pytest.approx(expected, rel=1e-12)
    assert scale.rel_sd == pytest.approx(
        math.hypot(1 / math.sqrt(w_door + w_wheel), 0.25), rel=1e-12
    )
    assert scale.references == ("door_shell", "wheel")


def test_only_the_plausible_wheel_of_two_counts() -> None:
    whole = ellipse((120, 160), 60, 40, 20)
    hidden = ellipse((120, 160), 60, 120, 20) & (np.arange(120) >= 50)[:, None]
    labels = part_map((whole, WHEEL), (hidden, WHEEL))
    assert problems(labels) == [
        ("wheel", 1257, None),
        ("wheel", int(hidden.sum()), "not_round"),
    ]
    scale = reference_scale(labels, PARTS, SETTINGS)
    assert scale is not None
    assert scale.cm2_per_px == pytest.approx(3100.0 / 1257, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "rows", "cols", "problem"),
    [
        ("edge-on", slice(10, 110), slice(70, 100), "aspect"),  # 30 / 100 = 0.3
        ("horizontal sliver", slice(50, 70), slice(10, 150), "aspect"),  # 140 / 20 = 7
    ],
)
def test_a_door_of_implausible_proportions_gives_no_scale(
    name: str, rows: slice, cols: slice, problem: str
) -> None:
    door = np.zeros((120, 160), dtype=bool)
    door[rows, cols] = True
    labels = part_map((door, DOOR))
    assert problems(labels) == [("door_shell", int(door.sum()), problem)], name
    assert reference_scale(labels, PARTS, SETTINGS) is None


def test_a_fragmented_or_occluded_door_gives_no_scale() -> None:
    diagonal = np.zeros((120, 160), dtype=bool)
    for row in range(20, 100):  # a 12 px wide band running down at 45 degrees
        diagonal[row, row + 10 : row + 22] = True  # 80 x 92 box, 960 px: fill 0.13
    occluded = np.zeros((120, 160), dtype=bool)
    occluded[30:90, 20:120] = True
    occluded[40:80, 50:70] = False  # a person in front: a hole of 800 px of 6000
    for door, problem in [(diagonal, "sparse"), (occluded, "holed")]:
        labels = part_map((door, DOOR))
        assert problems(labels) == [("door_shell", int(door.sum()), problem)]
        assert reference_scale(labels, PARTS, SETTINGS) is None


def test_small_instances_are_too_small() -> None:
    wheel = ellipse((120, 160), 60, 80, 11)  # N(11) = 377 < 400 px
    assert problems(part_map((wheel, WHEEL))) == [("wheel", 377, "too_small")]


def test_a_reference_part_without_a_shape_keeps_the_old_rules() -> None:
    taxonomy = taxonomy_from_dict(
        {
            "name": "t",
            "kind": "parts",
            "classes": [{"name": "background"}, {"name": "door"}, {"name": "wheel"}],
            "reference_parts": {"wheel": {"area_cm2": 100.0, "sd_cm2": 10.0}},
        }
    )
    labels = np.ones((12, 12), dtype=np.uint8)
    labels[2:6, 2:7] = 2  # a 20 px rectangle "wheel": accepted without a shape
    labels[9:12, 9:12] = 2  # cut by the border: ignored
    settings = PipelineSettings(min_reference_px=4, depth_rel_sd=0.2)
    scale = reference_scale(labels, taxonomy, settings)
    assert scale is not None
    assert scale.cm2_per_px == pytest.approx(5.0, rel=1e-12)
    assert scale.rel_sd == pytest.approx(math.hypot(0.1, 0.2), rel=1e-12)


SCALE = ScaleEstimate(cm2_per_px=2.0, rel_sd=0.3, references=("wheel",))


def test_physical_area_within_the_part_maximum() -> None:
    assert physical_area(1000, "bumper", SCALE, PARTS) == (2000.0, 600.0)
    assert physical_area(6000, "bumper", SCALE, PARTS) == (12000.0, 3600.0)  # at the maximum
    assert physical_area(0, "bumper", SCALE, PARTS) == (0.0, 0.0)


def test_a_damage_larger_than_its_part_gets_no_size() -> None:
    # The user's "small" bumper scratch of 28,905 cm^2; a bumper is at most 12,000.
    assert physical_area(14452.5, "bumper", SCALE, PARTS) == (None, None)
    assert physical_area(6001, "bumper", SCALE, PARTS) == (None, None)
    assert physical_area(301, "mirror", SCALE, PARTS) == (None, None)  # 602 > 600 cm^2
    assert physical_area(300, "mirror", SCALE, PARTS) == (600.0, 180.0)


def test_a_part_without_maximum_is_bounded_by_the_largest_one() -> None:
    largest = PARTS.largest_max_area_cm2
    assert largest == 22000.0  # the hood
    assert physical_area(11000, "background", SCALE, PARTS) == (22000.0, 6600.0)
    assert physical_area(11001, "background", SCALE, PARTS) == (None, None)
    # "other_panel" (a panel the part model does not label) has its own bound, 1 m²:
    assert physical_area(5000, "other_panel", SCALE, PARTS) == (10000.0, 3000.0)
    assert physical_area(5001, "other_panel", SCALE, PARTS) == (None, None)
    bare = taxonomy_from_dict(parts_dict(classes=[{"name": "background"}, {"name": "hood"}]))
    assert bare.largest_max_area_cm2 is None
    assert physical_area(15000, "hood", SCALE, bare) == (NO_PART_LARGER_CM2, 9000.0)
    assert physical_area(15001, "hood", SCALE, bare) == (None, None)


def test_no_scale_no_size_and_a_negative_area_is_an_error() -> None:
    assert physical_area(1000, "bumper", None, PARTS) == (None, None)
    with pytest.raises(ValueError, match="negative"):
        physical_area(-1, "bumper", SCALE, PARTS)


def test_shipped_maxima_and_shapes() -> None:
    assert {p: PARTS.max_area_cm2(p) for p in PARTS.classes[1:]} == {
        "bumper": 12000.0,
        "lamps": 1500.0,
        "windshield": 16000.0,
        "window": 6000.0,
        "door_shell": 15000.0,
        "hood": 22000.0,
        "wheel": 4500.0,
        "mirror": 600.0,
        "trunk": 15000.0,
    }
    assert PARTS.max_area_cm2("background") is None
    assert {n: r.shape for n, r in PARTS.reference_parts.items()} == {
        "wheel": "round",
        "door_shell": "panel",
    }
    reduced = load_taxonomy("parts_reduced")
    assert reduced.max_area_cm2("door_shell") == 11000.0  # below the window line there
    assert reduced.reference_parts["door_shell"].area_cm2 == 7000.0
    for name in ("parts_original", "parts_reduced", "parts_reduced_dsmlr"):
        taxonomy = load_taxonomy(name)
        assert set(taxonomy.max_areas) == set(taxonomy.classes[1:]), name


def parts_dict(**extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "kind": "parts",
        "classes": [{"name": "background"}, {"name": "bumper"}, {"name": "wheel"}],
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"max_areas": {"bumper": {"area_cm2": -5}}},
            r"max_areas.bumper.area_cm2 must be .* above 0",
        ),
        ({"max_areas": {"bumper": {"area_cm2": 0}}}, r"above 0, got 0.0"),
        ({"max_areas": {"bumper": {"area_cm2": float("nan")}}}, r"finite number .* got nan"),
        (
            {"max_areas": {"bumper": {"area_cm2": "12000"}}},
            r"must be a number of cm\^2, got '12000'",
        ),
        ({"max_areas": {"bumper": {"area_cm2": True}}}, r"must be a number of cm\^2, got True"),
        ({"max_areas": {"bumper": {}}}, r"max_areas.bumper: area_cm2 is required"),
        ({"max_areas": {"bumper": 12000}}, r"expected a mapping like \{area_cm2: ...\}"),
        ({"max_areas": [12000]}, r"max_areas must map part names to entries"),
        ({"max_areas": {"bumper": {"area_cm2": 1, "sd": 2}}}, r"unknown keys \['sd'\]"),
        ({"max_areas": {"spoiler": {"area_cm2": 900}}}, r"unknown classes \['spoiler'\]"),
        ({"max_areas": {"background": {"area_cm2": 900}}}, r"'background' is not a part"),
        (
            {
                "max_areas": {"wheel": {"area_cm2": 3000}},
                "reference_parts": {"wheel": {"area_cm2": 3100, "sd_cm2": 500}},
            },
            r"area_cm2 3100 exceeds the part's maximum \(max_areas.wheel: 3000\)",
        ),
        (
            {"reference_parts": {"wheel": {"area_cm2": 3100, "sd_cm2": 500, "shape": "oval"}}},
            r"shape must be one of \['round', 'panel'\], got 'oval'",
        ),
        (
            {"reference_parts": {"wheel": {"area_cm2": 3100, "sd_cm2": 0}}},
            r"reference_parts.wheel.sd_cm2 must be .* above 0",
        ),
        ({"reference_parts": {"wheel": {"sd_cm2": 500}}}, r"area_cm2 is required"),
    ],
)
def test_malformed_sizes_are_rejected(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        taxonomy_from_dict(parts_dict(**extra))


def test_sizes_belong_to_parts_taxonomies_only() -> None:
    with pytest.raises(TaxonomyError, match="for parts taxonomies only"):
        taxonomy_from_dict(
            {
                "name": "d",
                "kind": "damage",
                "classes": [
                    {"name": "no_damage", "dsi_weight": 0.0},
                    {"name": "dent", "dsi_weight": 70.0},
                ],
                "max_areas": {"dent": {"area_cm2": 100.0}},
            }
        )


def test_a_yaml_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "parts_bad.yaml"
    path.write_text(
        "name: parts_bad\nkind: parts\n"
        "classes:\n  - {name: background}\n  - {name: hood}\n"
        "max_areas:\n  hood: {area_cm2: big, note: typo}\n",
        encoding="utf-8",
    )
    with pytest.raises(TaxonomyError, match=f"{path} max_areas.hood: area_cm2 must be a number"):
        load_taxonomy_file(path)
    path.write_text(path.read_text().replace("big", "22000"), encoding="utf-8")
    loaded = load_taxonomy_file(path)
    assert loaded.max_area_cm2("hood") == 22000.0
    assert loaded.max_areas["hood"].note == "typo"
