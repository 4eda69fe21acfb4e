"""The built decks in a real Chromium: charts drawn from their results, no errors, no network, no overflow."""

import html
import json
import math
import re
import shutil

import pytest
import yaml

from livedeck.figures import contrast_ratio
from livedeck.screenshots import show_slide
from livedeck.tracked import resolve

# For every chart spec on the page: whether a Chart exists, its data, and whether each data
# element sits inside the plot area on a pixel that was painted.
CHART_STATE = """
() => [...document.querySelectorAll('script.ld-chart-spec')].map((spec) => {
  const id = spec.dataset.chartId;
  const canvas = document.getElementById('chart-' + id);
  const chart = canvas && Chart.getChart(canvas);
  if (!chart) return { id, exists: false };
  const area = chart.chartArea;
  const context = canvas.getContext('2d');
  const ratio = canvas.width / canvas.clientWidth;
  const painted = (x, y) => context.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data[3] > 0;
  let elements = 0, outside = 0, unpainted = 0;
  chart.data.datasets.forEach((dataset, index) => {
    chart.getDatasetMeta(index).data.forEach((element) => {
      const { x, y } = element.tooltipPosition ? element.tooltipPosition(true) : element.getCenterPoint();
      elements += 1;
      if (!(x >= area.left - 1 && x <= area.right + 1 && y >= area.top - 1 && y <= area.bottom + 1)) outside += 1;
      else if (!painted(x, y)) unpainted += 1;
    });
  });
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let opaque = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) opaque += 1;
  return {
    id, exists: true, elements, outside, unpainted, opaque,
    sources: JSON.parse(spec.dataset.sources),
    labels: chart.data.labels || null,
    datasets: chart.data.datasets.map((d) => d.data),
    pixelRatio: chart.currentDevicePixelRatio,
  };
})
"""

OVERFLOW = """
() => {
  const section = document.querySelector('svg.bespoke-marp-active section, .bespoke-marp-active section');
  const box = section.getBoundingClientRect();
  const scale = box.width / section.offsetWidth;
  const outside = [];
  for (const element of section.querySelectorAll('*')) {
    // A chart's data table for screen readers is clipped to its 1-pixel box, so only that box counts.
    if (element.closest('.ld-chart-data') && !element.matches('.ld-chart-data')) continue;
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) continue;
    if (rect.left < box.left - 1 || rect.top < box.top - 1 || rect.right > box.right + 1 || rect.bottom > box.bottom + 1) {
      outside.push(element.tagName.toLowerCase() + (element.className && typeof element.className === 'string' ? '.' + element.className : ''));
    }
  }
  return { scrolls: section.scrollHeight > section.clientHeight + 1, outside, scale };
}
"""


def _results(project) -> dict:
    """Return every results file's data by experiment name, and published.yaml as `published`."""
    documents = {"published": yaml.safe_load(project.published.read_text())}
    for path in project.results.glob("*.json"):
        documents[path.stem] = json.loads(path.read_text())["data"]
    return documents


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.fixture(scope="module")
def lecture_states(built_decks, project, browser):
    states = {}
    for deck in built_decks:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto((project.build / f"{deck}.html").as_uri())
        page.wait_for_function("document.documentElement.dataset.chartsReady === 'true'", timeout=20_000)
        states[deck] = {"charts": page.evaluate(CHART_STATE), "failures": page.evaluate("CDLChart.failures")}
        context.close()
    return states


def test_lecture_has_charts(lecture_states):
    # Other decks, such as one just made from the starter template, may have none.
    assert lecture_states["moe-efficiency"]["charts"], "the lecture deck has no charts"


def test_no_chart_failures(lecture_states):
    for deck, state in lecture_states.items():
        assert state["failures"] == [], f"deck {deck}: charts failed: {state['failures']}"


def test_every_chart_drew_its_data(lecture_states):
    for deck, state in lecture_states.items():
        for chart in state["charts"]:
            where = f"deck {deck}, chart {chart['id']}"
            assert chart["exists"], f"{where}: no Chart on the canvas"
            assert chart["elements"] > 0, f"{where}: no data elements"
            assert chart["outside"] == 0, f"{where}: {chart['outside']} data elements lie outside the plot area"
            assert chart["unpainted"] == 0, f"{where}: {chart['unpainted']} data elements sit on unpainted pixels"
            assert chart["opaque"] > 1000, f"{where}: canvas is nearly blank ({chart['opaque']} painted pixels)"


def test_charts_are_sharp(lecture_states):
    for deck, state in lecture_states.items():
        for chart in state["charts"]:
            assert chart["pixelRatio"] >= 2, f"deck {deck}, chart {chart['id']}: device pixel ratio {chart['pixelRatio']}"


def test_chart_data_equals_results(lecture_states, project):
    documents = _results(project)
    for deck, state in lecture_states.items():
        for chart in state["charts"]:
            where = f"deck {deck}, chart {chart['id']}"
            sources = chart["sources"]
            assert sources["datasets"], f"{where}: no datasets"
            for index, (source, data) in enumerate(zip(sources["datasets"], chart["datasets"])):
                assert source, f"{where}: dataset {index} does not come from a results file or published.yaml"
                if isinstance(source, list):
                    # Point data: each point's x and y name their own paths.
                    assert len(data) == len(source), f"{where}: dataset {index} has {len(data)} points for {len(source)} sources"
                    for point, paths in zip(data, source):
                        for axis, path in paths.items():
                            assert _same(point[axis], resolve(documents, path)), f"{where}: dataset {index}, {axis} differs from {path}"
                    continue
                expected = resolve(documents, source)
                assert _same(data, expected), f"{where}: dataset {index} differs from {source}"
            if sources["labels"]:
                assert _same(chart["labels"], resolve(documents, sources["labels"])), f"{where}: labels differ"


def test_no_errors_or_network(built_decks, project, open_deck):
    for deck in built_decks:
        page, watch = open_deck(project.build / f"{deck}.html")
        assert watch.page_errors == [], f"deck {deck}: page errors {watch.page_errors}"
        assert watch.console_errors == [], f"deck {deck}: console errors {watch.console_errors}"
        assert watch.network == [], f"deck {deck}: network requests {watch.network}"


def test_no_slide_overflows(built_decks, project, open_deck):
    for deck in built_decks:
        page, _ = open_deck(project.build / f"{deck}.html")
        count = page.evaluate("document.querySelectorAll('svg[data-marpit-svg]').length")
        problems = []
        for number in range(1, count + 1):
            show_slide(page, number)
            state = page.evaluate(OVERFLOW)
            if state["scrolls"] or state["outside"]:
                problems.append(f"slide {number}: {state['outside'][:5]}{' (content taller than slide)' if state['scrolls'] else ''}")
        assert problems == [], f"deck {deck}: content overflows: " + "; ".join(problems)


def test_html_works_alone_offline(built_decks, project, open_deck, tmp_path):
    for deck in built_decks:
        alone = tmp_path / deck / f"{deck}.html"
        alone.parent.mkdir()
        shutil.copy(project.build / f"{deck}.html", alone)
        page, watch = open_deck(alone, only_this_file=True)
        assert page.evaluate("CDLChart.failures") == []
        drawn = page.evaluate("CDLChart.ready.then((result) => result.drawn.length)")
        assert drawn == page.evaluate("document.querySelectorAll('script.ld-chart-spec').length")
        assert watch.network == [], f"deck {deck}: requests outside the file: {watch.network}"


def _embedded_coverage(html_text: str) -> set[int]:
    """Return the code points of the regular body font faces embedded in a built deck."""
    covered = set()
    for rule in re.findall(r"@font-face \{font-family:'Source Sans 3';font-style:normal;font-weight:400;[^}]*\}", html_text):
        for part in re.search(r"unicode-range:([^}]*)", rule).group(1).split(","):
            start, _, end = part.strip()[2:].partition("-")
            covered.update(range(int(start, 16), int(end or start, 16) + 1))
    return covered


def test_text_uses_only_bundled_glyphs(built_decks, project, open_deck):
    for deck in built_decks:
        covered = _embedded_coverage((project.build / f"{deck}.html").read_text(encoding="utf-8"))
        assert covered, f"deck {deck}: no embedded regular body font found"
        page, _ = open_deck(project.build / f"{deck}.html")
        text = page.evaluate("[...document.querySelectorAll('section')].map((s) => s.innerText).join('')")
        missing = sorted({ch for ch in text if ord(ch) not in covered and not ch.isspace()})
        assert missing == [], f"deck {deck}: characters the bundled fonts lack: {missing}"


COMMENT = re.compile(r"<!--(.*?)-->", re.S)
DIRECTIVE = re.compile(r"\s*_?\w+\s*:[^\n]*")  # a one-line Marp directive such as <!-- _class: title -->
SOURCES = re.compile(r'data-sources="([^"]*)"')


def _source_files(sources: dict) -> set[str]:
    """Return the results files and published.yaml that a chart's data-sources attribute names."""
    paths = [sources["labels"]] if sources["labels"] else []
    for entry in sources["datasets"]:
        if isinstance(entry, list):
            paths += [path for point in entry for path in point.values()]
        elif entry:
            paths.append(entry)
    return {path.partition(":")[0] for path in paths}


def test_chart_slide_notes_name_sources(built_decks, project):
    for deck in built_decks:
        markdown = (project.build / f"{deck}.md").read_text(encoding="utf-8")
        for number, slide in enumerate(markdown.split("\n---\n")[1:], start=1):
            charts = SOURCES.findall(slide)
            if not charts:
                continue
            notes = " ".join(text for text in COMMENT.findall(slide) if not DIRECTIVE.fullmatch(text))
            assert notes.strip(), f"deck {deck}, slide {number}: a chart slide without speaker notes"
            for attribute in charts:
                for name in _source_files(json.loads(html.unescape(attribute))):
                    expected = "published.yaml" if name == "published" else f"Run: experiment {name},"
                    assert expected in notes, f"deck {deck}, slide {number}: notes do not name {expected!r}"


def test_accessibility_tree_lists_charts(built_decks, project, open_deck):
    for deck in built_decks:
        page, _ = open_deck(project.build / f"{deck}.html")
        # Per chart: its slide number, label and the row count of its data table.
        charts = page.evaluate(
            "() => { const slides = [...document.querySelectorAll('svg[data-marpit-svg]')];"
            " return [...document.querySelectorAll('canvas[id^=\"chart-\"]')].map((c) => ["
            " slides.findIndex((s) => s.contains(c)) + 1, c.getAttribute('aria-label'),"
            " document.getElementById(c.getAttribute('aria-describedby')).querySelector('table').rows.length]); }"
        )
        session = page.context.new_cdp_session(page)
        for number, label, rows in charts:
            # Only the slide on screen is in the accessibility tree, as a reader would meet it.
            show_slide(page, number)
            names = {}
            for node in session.send("Accessibility.getFullAXTree")["nodes"]:
                names.setdefault(node.get("role", {}).get("value"), []).append(node.get("name", {}).get("value"))
            where = f"deck {deck}, slide {number}"
            assert label in names.get("image", []), f"{where}: no image named {label!r} in the accessibility tree"
            assert f"Data of the chart: {label}" in names.get("table", []), f"{where}: no data table for {label!r}"
            assert rows >= 2, f"{where}: the data table of {label!r} has no data rows"


def _contrast(first, second) -> float:
    """Return the WCAG contrast ratio of two colours given as 0-255 RGB channels."""
    return contrast_ratio([c / 255 for c in first], [c / 255 for c in second])


SERIES_CUES = """
() => {
  const parse = (color) => {
    const probe = document.createElement('canvas').getContext('2d');
    probe.fillStyle = color; probe.fillRect(0, 0, 1, 1);
    return [...probe.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  };
  const background = getComputedStyle(document.querySelector('section')).getPropertyValue('--slide-bg').trim();
  return [...document.querySelectorAll('canvas[id^="chart-"]')].flatMap((canvas) => {
    const chart = Chart.getChart(canvas);
    return chart.data.datasets.map((dataset, index) => {
      const meta = chart.getDatasetMeta(index);
      const element = meta.data[0];
      const line = meta.dataset ? meta.dataset.options : {};
      const options = element.options;
      const fill = meta.type === 'bar' ? options.backgroundColor : (line.borderColor || options.borderColor);
      return {
        chart: canvas.id, dataset: dataset.label, type: meta.type,
        fill: parse(fill), background: parse(background),
        outline: options.borderWidth > 0 ? parse(options.borderColor) : null,
        dashed: Array.isArray(line.borderDash) && line.borderDash.length > 0,
        pointStyle: options.pointStyle || 'circle',
      };
    });
  });
}
"""


def test_light_series_have_second_cue(built_decks, project, open_deck):
    for deck in built_decks:
        page, _ = open_deck(project.build / f"{deck}.html")
        for series in page.evaluate(SERIES_CUES):
            if _contrast(series["fill"], series["background"]) >= 3:
                continue
            where = f"deck {deck}, {series['chart']}, dataset {series['dataset']!r}"
            if series["type"] == "bar":
                assert series["outline"] and _contrast(series["outline"], series["background"]) >= 3, f"{where}: light bars need a dark outline"
            elif series["type"] == "line":
                assert series["dashed"] and series["pointStyle"] != "circle", f"{where}: a light line needs dashes and its own point shape"
            else:
                assert series["pointStyle"] != "circle" or series["outline"], f"{where}: light points need their own shape"


def test_presenter_view_notes_and_panes(built_decks, project, browser):
    deck = built_decks[0]
    html = project.build / f"{deck}.html"
    markdown = (project.build / f"{deck}.md").read_text(encoding="utf-8")
    slides = markdown.split("\n---\n")[1:]
    # The first chart slide whose next slide also has a chart.
    number = next(n for n in range(1, len(slides)) if "ld-chart-spec" in slides[n - 1] and "ld-chart-spec" in slides[n])
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(f"{html.resolve().as_uri()}?view=presenter#{number}")
        page.wait_for_function("document.documentElement.dataset.chartsReady === 'true'")
        assert page.locator(".bespoke-marp-presenter-container").is_visible()
        notes = page.locator(".bespoke-marp-presenter-note-container").inner_text()
        assert "Run: experiment" in notes or "published.yaml" in notes, notes[:200]
        assert page.locator(".bespoke-marp-presenter-info-timer").is_visible()

        drawn = (
            "(n) => { const slide = document.querySelectorAll('svg[data-marpit-svg]')[n - 1];"
            " const canvases = [...slide.querySelectorAll('canvas')];"
            " return canvases.length > 0 && canvases.every((c) => Chart.getChart(c) && Chart.getChart(c).chartArea); }"
        )
        assert page.evaluate(drawn, number), f"slide {number}: charts not drawn in the current pane"
        following = page.frame_locator("iframe").locator("body")
        following.wait_for()
        frame = next(f for f in page.frames if "view=next" in f.url)
        frame.wait_for_function("document.documentElement.dataset.chartsReady === 'true'")
        frame.wait_for_function(f"location.hash === '#{number + 1}'")
        assert frame.evaluate(drawn, number + 1), f"slide {number + 1}: charts not drawn in the next-slide pane"
    finally:
        page.close()
