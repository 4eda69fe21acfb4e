"""Screenshots of every slide, compared with the committed baselines in tests/screenshots/<deck>/.

Each slide of build/<deck>.html is rendered in Chromium at 1280x720 with device scale factor 1,
animations off and the on-screen controls hidden, so two renders on one machine are identical.
A slide that differs from its baseline gets its actual image, a diff image and a row in one HTML
report under build/screenshots/. `update_baselines` accepts the current rendering.
"""

import html
import io
import logging
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import LivedeckError
from .fileio import write_bytes_atomic, write_text_atomic
from .paths import Project
from .tools import CHROMIUM_ARGS, find_chromium

log = logging.getLogger("livedeck.screenshots")

VIEWPORT = {"width": 1280, "height": 720}

# pixelmatch's colour threshold (0 to 1, on its YIQ distance) and the share of a slide's pixels
# that may still differ: enough for a stray anti-aliased edge, far below any changed value or text.
PIXEL_THRESHOLD = 0.1
MAX_DIFFERENT_SHARE = 0.0001

# PDF pages are printed, not screenshotted, so the edges of every glyph differ a little. Both
# images are averaged over 8x8 blocks, and a block counts as different when a channel moves by
# more than PARITY_LEVEL. On this deck text-only pages differ in at most about 1.3% of blocks,
# while blanking a chart changes about 17% of its slide and half a chart about 10%.
PARITY_BLOCK = 8
PARITY_LEVEL = 24
PARITY_SHARE = 0.03

HIDE_CONTROLS = ".bespoke-marp-osc { display: none !important; }"


def baseline_folder(project: Project, deck: str) -> Path:
    return project.root / "tests" / "screenshots" / deck


def output_folder(project: Project, deck: str) -> Path:
    return project.build / "screenshots" / deck


@contextmanager
def browser_session():
    """Start one headless Chromium for all the renders of a run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def deck_page(browser, html_path: Path):
    """Open a built deck at 1280x720 in a new context and wait until every chart has drawn."""
    if not html_path.is_file():
        raise LivedeckError("missing-output", f"{html_path} not found; run `make slides` first")
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(html_path.resolve().as_uri())
        page.wait_for_function("document.documentElement.dataset.chartsReady === 'true'", timeout=30_000)
        yield page
    finally:
        context.close()


def slide_count(page) -> int:
    return page.evaluate("document.querySelectorAll('svg[data-marpit-svg]').length")


def show_slide(page, number: int) -> None:
    """Make slide `number` (from 1) the active one in Marp's viewer and wait until it is painted."""
    page.evaluate(f"location.hash = '#{number}'")
    page.wait_for_function(
        "(n) => document.querySelector('svg.bespoke-marp-active') === "
        "document.querySelectorAll('svg[data-marpit-svg]')[n - 1]",
        arg=number,
    )
    # Two animation frames: the first applies the slide change, the second paints it.
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def render_slides(browser, html_path: Path) -> list[Image.Image]:
    """Return one 1280x720 RGB image per slide of a built deck, in slide order."""
    with deck_page(browser, html_path) as page:
        page.evaluate("document.fonts.ready.then(() => true)")
        page.add_style_tag(content=HIDE_CONTROLS)
        images = []
        for number in range(1, slide_count(page) + 1):
            show_slide(page, number)
            images.append(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
        return images


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def slide_name(number: int) -> str:
    return f"slide-{number:02d}.png"


@dataclass
class SlideDifference:
    """One slide whose rendering does not match its baseline, with the images that show it."""

    number: int
    reason: str
    different_pixels: int = 0
    box: tuple[int, int, int, int] | None = None
    files: dict[str, str] = field(default_factory=dict)


def compare_images(baseline: Image.Image, actual: Image.Image) -> tuple[int, Image.Image | None, tuple | None]:
    """Return the count of perceptibly different pixels, a diff image, and their bounding box.

    Identical images return (0, None, None) at once; otherwise pixelmatch runs on the region
    that changed, which keeps a comparison of mostly equal slides fast.
    """
    from pixelmatch.contrib.PIL import pixelmatch

    a = np.asarray(baseline.convert("RGB"))
    b = np.asarray(actual.convert("RGB"))
    changed = np.any(a != b, axis=2)
    if not changed.any():
        return 0, None, None

    rows = np.flatnonzero(changed.any(axis=1))
    columns = np.flatnonzero(changed.any(axis=0))
    margin = 2
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, a.shape[0])
    left, right = max(columns[0] - margin, 0), min(columns[-1] + margin + 1, a.shape[1])
    crop = (int(left), int(top), int(right), int(bottom))

    region_diff = Image.new("RGBA", (crop[2] - crop[0], crop[3] - crop[1]))
    count = pixelmatch(
        baseline.convert("RGBA").crop(crop), actual.convert("RGBA").crop(crop), region_diff,
        threshold=PIXEL_THRESHOLD, includeAA=False, alpha=0.4,
    )
    # The diff image: the baseline faded to grey, the compared region pasted in with changes in red.
    diff = Image.blend(baseline.convert("L").convert("RGB"), Image.new("RGB", baseline.size, "white"), 0.6)
    diff.paste(region_diff.convert("RGB"), crop[:2])
    return count, diff, crop


def check_deck(project: Project, deck: str, images: list[Image.Image]) -> list[SlideDifference]:
    """Compare rendered slides with the deck's baselines; write actual and diff images for each difference."""
    folder = baseline_folder(project, deck)
    if not folder.is_dir():
        raise LivedeckError(
            "missing-baselines",
            f"no baseline screenshots for deck {deck} in {project.relative(folder)}; "
            f"run `make screenshots` to create them and commit the folder",
        )
    out = output_folder(project, deck)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    baselines = sorted(folder.glob("slide-*.png"))
    differences = []
    limit = int(MAX_DIFFERENT_SHARE * VIEWPORT["width"] * VIEWPORT["height"])
    for number, image in enumerate(images, start=1):
        path = folder / slide_name(number)
        actual_path = out / f"actual-{slide_name(number)}"
        if not path.is_file():
            image.save(actual_path)
            differences.append(SlideDifference(number, "slide added: it has no baseline", files={"actual": str(actual_path)}))
            continue
        baseline = Image.open(path).convert("RGB")
        if baseline.size != image.size:
            image.save(actual_path)
            differences.append(SlideDifference(number, f"size {image.size} differs from the baseline's {baseline.size}",
                                               files={"baseline": str(path), "actual": str(actual_path)}))
            continue
        count, diff, box = compare_images(baseline, image)
        if count > limit:
            diff_path = out / f"diff-{slide_name(number)}"
            image.save(actual_path)
            diff.save(diff_path)
            differences.append(SlideDifference(
                number, f"{count} pixels differ (tolerance {limit})", count, box,
                files={"baseline": str(path), "actual": str(actual_path), "diff": str(diff_path)},
            ))
    for path in baselines[len(images):]:
        number = int(path.stem.split("-")[1])
        differences.append(SlideDifference(number, "slide removed: the deck has fewer slides than its baselines",
                                           files={"baseline": str(path)}))
    return differences


def write_report(project: Project, results: dict[str, list[SlideDifference]]) -> Path:
    """Write one HTML page with baseline, actual and diff side by side for every differing slide."""
    report = project.build / "screenshots" / "report.html"
    rows = []
    for deck, differences in results.items():
        for difference in differences:
            cells = []
            for kind in ("baseline", "actual", "diff"):
                file = difference.files.get(kind)
                if file:
                    uri = Path(file).resolve().as_uri()
                    cells.append(f'<td><a href="{uri}"><img src="{uri}" width="400"></a><br>{kind}</td>')
                else:
                    cells.append(f"<td>no {kind}</td>")
            rows.append(
                f"<tr><th>{html.escape(deck)}<br>slide {difference.number}<br>"
                f"<small>{html.escape(difference.reason)}</small></th>{''.join(cells)}</tr>"
            )
    body = "".join(rows) or "<tr><td>Every slide matches its baseline.</td></tr>"
    write_text_atomic(
        report,
        "<!doctype html><meta charset=utf-8><title>Screenshot differences</title>"
        "<style>body{font-family:sans-serif}td,th{vertical-align:top;padding:6px;text-align:left}"
        "img{border:1px solid #ccc}</style><h1>Screenshot differences</h1><table>" + body + "</table>",
    )
    return report


def update_baselines(project: Project, deck: str, images: list[Image.Image]) -> list[int]:
    """Store the rendered slides as the deck's baselines; return the numbers of slides that changed."""
    folder = baseline_folder(project, deck)
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for number, image in enumerate(images, start=1):
        path = folder / slide_name(number)
        if path.is_file():
            old = Image.open(path).convert("RGB")
            if old.size == image.size and np.array_equal(np.asarray(old), np.asarray(image)):
                continue
        write_bytes_atomic(path, png_bytes(image))
        changed.append(number)
    for path in sorted(folder.glob("slide-*.png")):
        if int(path.stem.split("-")[1]) > len(images):
            path.unlink()
            changed.append(int(path.stem.split("-")[1]))
    return changed


def rasterise_pdf(pdf: Path, folder: Path) -> list[Image.Image]:
    """Return the PDF's pages as RGB images at 96 dpi, the HTML's pixel size."""
    if shutil.which("pdftoppm") is None:
        raise LivedeckError("missing-poppler", "pdftoppm not found; install it with `sudo apt-get install poppler-utils`")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "96", "-png", str(pdf), str(folder / "page")], check=True)
    return [Image.open(path).convert("RGB") for path in sorted(folder.glob("page-*.png"))]


def parity_share(page: Image.Image, slide: Image.Image, box: tuple[int, int, int, int] | None = None) -> float:
    """Return the share of 8x8 blocks where a PDF page and the slide's screenshot differ.

    With `box` (left, top, right, bottom in slide pixels) only that region, such as one chart, counts.
    """
    if page.size != slide.size:
        page = page.resize(slide.size, Image.Resampling.BOX)
    if box is not None:
        page, slide = page.crop(box), slide.crop(box)
    size = (max(slide.width // PARITY_BLOCK, 1), max(slide.height // PARITY_BLOCK, 1))
    a = np.asarray(page.resize(size, Image.Resampling.BOX), dtype=np.int16)
    b = np.asarray(slide.resize(size, Image.Resampling.BOX), dtype=np.int16)
    different = np.abs(a - b).max(axis=2) > PARITY_LEVEL
    return float(different.mean())


CHART_BOXES = """
() => [...document.querySelectorAll('svg.bespoke-marp-active canvas[id^="chart-"]')].map((canvas) => {
  const r = canvas.getBoundingClientRect();
  return { id: canvas.id.slice(6), box: [Math.floor(r.left), Math.floor(r.top), Math.ceil(r.right), Math.ceil(r.bottom)] };
})
"""


def chart_boxes(browser, html_path: Path) -> list[list[dict]]:
    """Return, per slide, each chart's id and its box in screenshot pixels."""
    with deck_page(browser, html_path) as page:
        boxes = []
        for number in range(1, slide_count(page) + 1):
            show_slide(page, number)
            boxes.append(page.evaluate(CHART_BOXES))
        return boxes
