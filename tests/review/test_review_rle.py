"""The compact mask encoding: Python against pycocotools, and JS against Python."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from review import rle
from review.rle import Rle, RleError

ROOT = Path(__file__).resolve().parents[2]
RLE_JS = ROOT / "static" / "review" / "rle.js"
EDITOR_JS = ROOT / "static" / "review" / "mask-editor.js"
NODE = shutil.which("node")


def test_known_mask_encodes_to_the_coco_string() -> None:
    mask = np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)
    # column-major: 0 0 | 1 1 | 1 0 -> runs 2, 3, 1
    encoded = rle.encode(mask)
    assert encoded == Rle(height=2, width=3, counts="231")
    assert rle.area(encoded) == 3
    assert rle.bbox(mask) == (1, 0, 3, 2)


def test_mask_starting_inside_begins_with_an_empty_run() -> None:
    mask = np.ones((2, 2), dtype=bool)
    assert rle.decode(rle.encode(mask)).all()


@settings(max_examples=150, deadline=None)
@given(
    arrays(
        np.bool_,
        st.tuples(st.integers(1, 40), st.integers(1, 40)),
    )
)
def test_matches_pycocotools_and_round_trips(mask: np.ndarray) -> None:
    expected = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    encoded = rle.encode(mask)
    assert encoded.counts == expected["counts"].decode("ascii")
    assert [encoded.height, encoded.width] == list(expected["size"])
    assert np.array_equal(rle.decode(encoded), mask)
    assert np.array_equal(coco_mask.decode(encoded.as_coco() | {"counts": encoded.counts}), mask)


def test_decode_rejects_a_wrong_size() -> None:
    encoded = rle.encode(np.ones((3, 3), dtype=bool))
    with pytest.raises(RleError, match="cover 9 pixels but the mask has 4x4 = 16"):
        rle.decode(Rle(height=4, width=4, counts=encoded.counts))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", "object with 'size'"),
        ({"size": [0, 3], "counts": "3"}, "two positive integers"),
        ({"size": [3, 3], "counts": [9]}, "compressed COCO RLE string"),
    ],
)
def test_from_coco_rejects_malformed_values(value: object, message: str) -> None:
    with pytest.raises(RleError, match=message):
        Rle.from_coco(value)


def test_decode_rejects_a_truncated_string() -> None:
    with pytest.raises(RleError, match="ends in the middle"):
        rle.string_to_counts("h")  # 'h' - 48 = 56 has the continuation bit


def test_resize_nearest_upscales_by_blocks() -> None:
    small = np.array([[1, 0], [0, 1]], dtype=bool)
    big = rle.resize_nearest(small, 4, 6)
    assert big.shape == (4, 6)
    assert big[:2, :3].all()
    assert not big[:2, 3:].any()
    assert big[2:, 3:].all()


def _node(script: str) -> str:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@pytest.mark.skipif(NODE is None, reason="node is not installed; the browser test covers rle.js")
def test_js_and_python_agree_both_ways() -> None:
    rng = np.random.default_rng(7)
    masks = [rng.random((h, w)) < 0.4 for h, w in [(1, 1), (5, 7), (31, 17), (64, 48)]]
    masks.append(np.zeros((3, 4), dtype=bool))
    masks.append(np.ones((4, 3), dtype=bool))
    payload = [
        {"w": int(m.shape[1]), "h": int(m.shape[0]), "rows": m.astype(int).ravel().tolist()}
        for m in masks
    ]
    script = f"""
const R = require({json.dumps(str(RLE_JS))});
const cases = {json.dumps(payload)};
const out = cases.map(c => {{
  const enc = R.encode(Uint8Array.from(c.rows), c.w, c.h);
  const dec = R.decode(enc);
  return {{counts: enc.counts, size: enc.size, back: Array.from(dec.mask)}};
}});
console.log(JSON.stringify(out));
"""
    results = json.loads(_node(script))
    for mask, result in zip(masks, results, strict=True):
        python = rle.encode(mask)
        assert result["counts"] == python.counts
        assert result["size"] == [python.height, python.width]
        assert result["back"] == mask.astype(int).ravel().tolist()
        assert np.array_equal(rle.decode(Rle.from_coco(result)), mask)


@pytest.mark.skipif(NODE is None, reason="node is not installed; the browser test covers it")
def test_js_brush_and_polygon_store_full_resolution_masks() -> None:
    script = f"""
const E = require({json.dumps(str(EDITOR_JS))});
const R = require({json.dumps(str(RLE_JS))});
const w = 4000, h = 3000;
const m = new Uint8Array(w * h);
E.applyOp(m, w, h, {{tool: "brush", radius: 10, points: [[100, 100], [200, 100]]}});
E.applyOp(m, w, h, {{tool: "eraser", radius: 10, points: [[150, 100]]}});
E.applyOp(m, w, h, {{tool: "polygon", points: [[1000, 1000], [1100, 1000], [1100, 1050], [1000, 1050]]}});
console.log(JSON.stringify(R.encode(m, w, h)));
"""
    encoded = Rle.from_coco(json.loads(_node(script)))
    mask = rle.decode(encoded)
    assert mask.shape == (3000, 4000)
    yy, xx = np.mgrid[0:3000, 0:4000]
    px, py = xx + 0.5, yy + 0.5
    t = np.clip((px - 100) / 100, 0, 1)
    stroke = (px - (100 + 100 * t)) ** 2 + (py - 100) ** 2 <= 100
    erased = (px - 150) ** 2 + (py - 100) ** 2 <= 100
    polygon = (xx >= 1000) & (xx <= 1099) & (yy >= 1000) & (yy <= 1049)
    expected = (stroke & ~erased) | polygon
    assert np.array_equal(mask, expected)
    assert int(mask.sum()) == int(expected.sum())
    assert int(polygon.sum()) == 100 * 50
