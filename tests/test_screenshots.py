"""Screenshot regression: every slide against its committed baseline, and the PDF against the HTML."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_tool
from livedeck import screenshots
from livedeck.paths import Project

# A chart in the PDF must match its HTML rendering closely. On this deck the measured share is
# below 0.1%, and a chart missing half its bars changes far more than this.
CHART_PARITY_SHARE = 0.02


@pytest.fixture(scope="module")
def renders(built_decks, project, browser):
    return {deck: screenshots.render_slides(browser, project.build / f"{deck}.html") for deck in built_decks}


def test_slides_match_baselines(renders, project):
    results = {deck: screenshots.check_deck(project, deck, images) for deck, images in renders.items()}
    report = screenshots.write_report(project, results)
    failures = [f"{deck} slide {d.number}: {d.reason}" for deck, differences in results.items() for d in differences]
    assert failures == [], (
        "slides differ from tests/screenshots baselines:\n  " + "\n  ".join(failures)
        + f"\nreport: {report}\nif the change is intended, run `make screenshots` and commit the baselines"
    )


def test_two_renders_are_identical(renders, project, browser):
    for deck, first in renders.items():
        second = screenshots.render_slides(browser, project.build / f"{deck}.html")
        assert len(first) == len(second)
        for number, (a, b) in enumerate(zip(first, second), start=1):
            assert np.array_equal(np.asarray(a), np.asarray(b)), f"deck {deck}, slide {number} rendered differently twice"


def test_pdf_pages_match_html(renders, project, browser, tmp_path):
    for deck, images in renders.items():
        pages = screenshots.rasterise_pdf(project.build / f"{deck}.pdf", tmp_path / deck)
        assert len(pages) == len(images), f"deck {deck}: {len(pages)} PDF pages for {len(images)} slides"
        boxes = screenshots.chart_boxes(browser, project.build / f"{deck}.html")
        for number, (page, image) in enumerate(zip(pages, images), start=1):
            share = screenshots.parity_share(page, image)
            assert share < screenshots.PARITY_SHARE, f"deck {deck}, page {number}: {share:.1%} of the page differs from the HTML"
            for chart in boxes[number - 1]:
                share = screenshots.parity_share(page, image, tuple(chart["box"]))
                assert share < CHART_PARITY_SHARE, (
                    f"deck {deck}, page {number}: chart {chart['id']} differs from the HTML in {share:.1%} of its area"
                )


def test_baselines_stay_small():
    total = sum(path.stat().st_size for path in (ROOT / "tests" / "screenshots").rglob("*.png"))
    assert total < 10 * 1024 * 1024, f"baseline screenshots take {total / 1024 / 1024:.1f} MB"


def test_changed_value_fails_on_its_slide(tmp_path, browser):
    """Change one number in a results file: exactly the slide with that chart fails, inside the chart."""
    copy = Project(tmp_path / "copy")
    for folder in ("slides", "theme", "experiments", "tests/screenshots"):
        shutil.copytree(ROOT / folder, copy.root / folder)
    (copy.root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "marp-engine.mjs", copy.root / "scripts")
    shutil.copy(ROOT / "pyproject.toml", copy.root)
    shutil.copy(ROOT / "package-lock.json", copy.root)
    (copy.root / "node_modules").symlink_to(ROOT / "node_modules")

    path = copy.results / "moe_routing.json"
    document = json.loads(path.read_text())
    dropped = document["data"]["capacity"]["dropped"]["no_balance"]
    dropped[2] = dropped[2] / 2  # factor 1.5: drawn in the chart, printed nowhere in the text
    path.write_text(json.dumps(document))
    run_tool(copy, "build", "--no-pdf", "--no-experiments")

    deck = "moe-efficiency"
    images = screenshots.render_slides(browser, copy.build / f"{deck}.html")
    differences = screenshots.check_deck(copy, deck, images)
    boxes = screenshots.chart_boxes(browser, copy.build / f"{deck}.html")
    chart_slide = next(n for n, charts in enumerate(boxes, start=1) if any(c["id"] == "capacity-drop" for c in charts))

    assert [d.number for d in differences] == [chart_slide]
    left, top, right, bottom = next(c["box"] for c in boxes[chart_slide - 1] if c["id"] == "capacity-drop")
    changed = differences[0].box
    assert changed[0] >= left - 2, f"changes start left of the chart: {changed}"
    assert changed[1] >= top - 2, f"changes start above the chart: {changed}"
    assert changed[2] <= right + 2, f"changes end right of the chart: {changed}"
    assert changed[3] <= bottom + 2, f"changes end below the chart: {changed}"
    diff = Image.open(differences[0].files["diff"]).convert("RGB")
    red = np.asarray(diff)
    marked = (red[:, :, 0] > 200) & (red[:, :, 1] < 80) & (red[:, :, 2] < 80)
    ys, xs = np.nonzero(marked)
    assert len(xs) > 0, "the diff image marks no pixel"
    assert xs.min() >= left - 2, "the diff marks pixels left of the chart"
    assert xs.max() <= right + 2, "the diff marks pixels right of the chart"
    assert ys.min() >= top - 2, "the diff marks pixels above the chart"
    assert ys.max() <= bottom + 2, "the diff marks pixels below the chart"


def test_added_and_removed_slides_are_named(scratch):
    folder = screenshots.baseline_folder(scratch, "talk")
    folder.mkdir(parents=True)
    white = Image.new("RGB", (1280, 720), "white")
    for number in (1, 2):
        white.save(folder / screenshots.slide_name(number))

    added = screenshots.check_deck(scratch, "talk", [white, white, white])
    assert [(d.number, d.reason) for d in added] == [(3, "slide added: it has no baseline")]

    removed = screenshots.check_deck(scratch, "talk", [white])
    assert [(d.number, d.reason) for d in removed] == [(2, "slide removed: the deck has fewer slides than its baselines")]


def test_update_lists_changed_slides(scratch):
    white = Image.new("RGB", (1280, 720), "white")
    black = Image.new("RGB", (1280, 720), "black")
    assert screenshots.update_baselines(scratch, "talk", [white, white]) == [1, 2]
    assert screenshots.update_baselines(scratch, "talk", [white, black]) == [2]
    assert screenshots.update_baselines(scratch, "talk", [white]) == [2]
