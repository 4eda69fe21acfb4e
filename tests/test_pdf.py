"""The built PDFs: one page per slide, each chart page carries its chart as a sharp, non-blank image."""

import re
import subprocess

import numpy
import pytest
from PIL import Image, ImageStat

# Pixels per inch of a chart drawn at device pixel ratio 2 on a 96 dpi page.
MIN_PPI = 192


def _slides(project, deck) -> list[int]:
    """Return, per slide of the deck's HTML, how many charts it holds."""
    html = (project.build / f"{deck}.html").read_text(encoding="utf-8")
    body = html[html.index("<body") :]
    slides = re.split(r"<svg[^>]*data-marpit-svg", body)[1:]
    return [slide.count('class="ld-chart-spec"') for slide in slides]


def _images(pdf) -> list[dict]:
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = []
    for line in listing.splitlines()[2:]:
        fields = line.split()
        if fields[2] != "image":
            continue
        images.append({"page": int(fields[0]), "number": int(fields[1]), "width": int(fields[3]),
                       "height": int(fields[4]), "x_ppi": int(fields[12]), "y_ppi": int(fields[13])})
    return images


def test_one_page_per_slide(built_decks, project):
    for deck in built_decks:
        info = subprocess.run(["pdfinfo", str(project.build / f"{deck}.pdf")], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
        assert pages == len(_slides(project, deck)), f"deck {deck}: {pages} PDF pages for {len(_slides(project, deck))} slides"


def test_chart_pages_have_sharp_images(built_decks, project):
    for deck in built_decks:
        charts = _slides(project, deck)
        images = _images(project.build / f"{deck}.pdf")
        for page, count in enumerate(charts, start=1):
            on_page = [image for image in images if image["page"] == page]
            assert len(on_page) >= count, f"deck {deck}, page {page}: {len(on_page)} images for {count} charts"
            for image in on_page:
                where = f"deck {deck}, page {page}: chart image at {image['x_ppi']}x{image['y_ppi']} ppi"
                assert image["x_ppi"] >= MIN_PPI, f"{where}, below {MIN_PPI}"
                assert image["y_ppi"] >= MIN_PPI, f"{where}, below {MIN_PPI}"


def test_chart_images_are_not_blank(built_decks, project, tmp_path):
    for deck in built_decks:
        charts = _slides(project, deck)
        for page, count in enumerate(charts, start=1):
            if not count:
                continue
            prefix = tmp_path / f"{deck}-{page}"
            subprocess.run(
                ["pdfimages", "-png", "-f", str(page), "-l", str(page), str(project.build / f"{deck}.pdf"), str(prefix)],
                check=True,
            )
            extracted = sorted(tmp_path.glob(f"{deck}-{page}-*.png"))
            colourful = [p for p in extracted if Image.open(p).mode in ("RGB", "RGBA")]
            assert colourful, f"deck {deck}, page {page}: no chart image extracted"
            for path in colourful:
                spread = ImageStat.Stat(Image.open(path).convert("L")).stddev[0]
                assert spread > 5, f"deck {deck}, page {page}: chart image {path.name} is blank (stddev {spread:.1f})"


def test_pdf_outline_lists_slide_titles(built_decks, project):
    from pypdf import PdfReader

    for deck in built_decks:
        markdown = (project.build / f"{deck}.md").read_text(encoding="utf-8")
        titles = re.findall(r"^# (.+)$", markdown, re.M)
        reader = PdfReader(project.build / f"{deck}.pdf")

        def flatten(items):
            for item in items:
                yield from flatten(item) if isinstance(item, list) else [item.title]

        outline = list(flatten(reader.outline))
        missing = [title for title in titles if title not in outline]
        assert missing == [], f"deck {deck}: slide titles missing from the PDF outline: {missing}"


DECK_WITH_NOTE = """---
marp: true
theme: livedeck
---

# Values

{{ chart('values', 'bar', labels=['a', 'b', 'c'], datasets=[dataset('v', results.demo.values)], label='Values') }}

<!--
Data: demo results, three values.
-->
"""


@pytest.fixture
def small_deck(scratch):
    (scratch.results / "demo.json").write_text(
        '{"experiment": "demo", "data": {"values": [3, 1, 2]}, "provenance": {"inputs": {}}}'
    )
    (scratch.slides / "small.md.j2").write_text(DECK_WITH_NOTE)
    return scratch


def test_pdf_notes_become_annotations(small_deck):
    from pypdf import PdfReader

    from conftest import run_tool

    run_tool(small_deck, "build", "--no-experiments")
    run_tool(small_deck, "build", "--no-experiments", "--pdf-notes")
    student_copy = PdfReader(small_deck.build / "small.pdf").pages[0]
    assert not student_copy.get("/Annots"), "the students' PDF must not carry the notes"
    page = PdfReader(small_deck.build / "small-notes.pdf").pages[0]
    contents = [annotation.get_object().get("/Contents", "") for annotation in page.get("/Annots", [])]
    assert any("Data: demo results, three values." in text for text in contents), contents


def test_pptx_slides_have_charts(small_deck):
    import io
    import zipfile

    from conftest import run_tool

    run_tool(small_deck, "build", "--no-experiments", "--pptx")
    with zipfile.ZipFile(small_deck.build / "small.pptx") as pptx:
        slides = [name for name in pptx.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", name)]
        images = [name for name in pptx.namelist() if name.startswith("ppt/media/") and name.endswith(".png")]
        assert len(slides) == 1
        assert len(images) == 1
        slide = Image.open(io.BytesIO(pptx.read(images[0]))).convert("RGB")
    # The chart's bars are the theme's first series colour, Dartmouth green (#00693e).
    pixels = numpy.asarray(slide).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    green = int(((r < 40) & (g > 80) & (g < 130) & (b > 40) & (b < 90)).sum())
    assert green > 0.01 * slide.width * slide.height, f"only {green} chart-green pixels: the chart was not drawn"
