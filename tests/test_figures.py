"""Static figures: every chart of a deck as PNG and SVG, with the slide's data, theme colours and font."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from conftest import ROOT, run_tool
from livedeck import figures
from livedeck.errors import LivedeckError
from livedeck.figures import (
    NUMBER_FORMATS,
    draw_chart,
    read_chart_specs,
    read_palette,
    register_fonts,
    write_figures,
)
from livedeck.render import render_deck

LECTURE = "moe-efficiency"
THEME = ROOT / "theme" / "livedeck.css"
CHANGED_COLOR = "#123456"


@pytest.fixture(scope="module")
def palette():
    return read_palette(THEME)


@pytest.fixture(scope="module")
def lecture_specs(project):
    markdown, _ = render_deck(project, LECTURE)
    return read_chart_specs(markdown, LECTURE)


@pytest.fixture(scope="module")
def lecture_figures(project):
    return write_figures(project, [LECTURE])


def spec_of(specs, chart_id):
    return next(spec for spec in specs if spec.chart_id == chart_id)


def draw(spec, palette):
    return draw_chart(spec.config, palette, width=spec.width, height=spec.height, where=spec.where)


def artist_by_label(artists, label):
    return next(artist for artist in artists if artist.get_label() == label)


# --------------------------------------------------------------------------
# Files written for the lecture deck
# --------------------------------------------------------------------------


def test_figure_count_matches_built_deck(project, built_decks, lecture_figures):
    built = (project.build / f"{LECTURE}.md").read_text(encoding="utf-8")
    chart_ids = re.findall(r'class="ld-chart-spec" data-chart-id="([^"]+)"', built)
    folder = project.build / "figures" / LECTURE

    assert len(chart_ids) > 0
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(chart_ids)
    assert sorted(p.stem for p in folder.glob("*.svg")) == sorted(chart_ids)
    assert len(lecture_figures) == 2 * len(chart_ids)


def test_png_is_300_dpi_and_not_blank(lecture_figures):
    for path in (p for p in lecture_figures if p.suffix == ".png"):
        with Image.open(path) as image:
            dpi = image.info.get("dpi")
            pixels = np.asarray(image.convert("L"), dtype=float)
        assert dpi is not None, f"{path.name} has no dpi metadata"
        assert dpi[0] == pytest.approx(300, abs=0.5), f"{path.name}: {dpi}"
        assert pixels.std() > 5, f"{path.name} is nearly blank (pixel std {pixels.std():.2f})"


def test_png_size_follows_canvas(lecture_specs, lecture_figures):
    spec = spec_of(lecture_specs, "dense-vs-sparse")
    path = next(p for p in lecture_figures if p.name == "dense-vs-sparse.png")
    with Image.open(path) as image:
        assert image.size == (round(spec.width / 96 * 300), round(spec.height / 96 * 300))


def test_svg_has_text_as_paths(lecture_figures):
    svg = next(p for p in lecture_figures if p.name == "dense-vs-sparse.svg").read_text(encoding="utf-8")
    assert svg.startswith("<?xml")
    assert "<text" not in svg


def test_stale_figure_is_deleted(project, lecture_figures):
    stale = project.build / "figures" / LECTURE / "chart-removed-from-deck.png"
    stale.write_bytes(b"old")
    write_figures(project, [LECTURE])
    assert not stale.exists()


# --------------------------------------------------------------------------
# Plotted values against the spec data
# --------------------------------------------------------------------------


def test_grouped_bars_match_data(lecture_specs, palette):
    spec = spec_of(lecture_specs, "dense-vs-sparse")
    axes = draw(spec, palette).axes[0]
    datasets = spec.config["data"]["datasets"]

    for index, dataset in enumerate(datasets):
        container = artist_by_label(axes.containers, dataset["label"])
        tops = [bar.get_y() + bar.get_height() for bar in container]
        assert tops == pytest.approx(dataset["data"])
        assert to_hex(container[0].get_facecolor()) == to_hex(palette.series[index])
    labels = [text.get_text() for text in axes.get_xticklabels()]
    assert labels == spec.config["data"]["labels"]


def test_horizontal_bars_match_data(lecture_specs, palette):
    spec = spec_of(lecture_specs, "training-emissions")
    axes = draw(spec, palette).axes[0]
    dataset = spec.config["data"]["datasets"][0]
    container = artist_by_label(axes.containers, dataset["label"])

    ends = [bar.get_x() + bar.get_width() for bar in container]
    assert ends == pytest.approx(dataset["data"])
    # The first label is at the top, as on the slide.
    bottom, top = axes.get_ylim()
    assert top < bottom
    assert [t.get_text() for t in axes.get_yticklabels()] == spec.config["data"]["labels"]


def test_log_bars_start_at_axis_bottom(lecture_specs, palette):
    spec = spec_of(lecture_specs, "ssm-compute")
    axes = draw(spec, palette).axes[0]

    assert axes.get_yscale() == "log"
    assert axes.get_ylim()[0] == pytest.approx(0.5)
    for dataset in spec.config["data"]["datasets"]:
        container = artist_by_label(axes.containers, dataset["label"])
        assert [bar.get_y() for bar in container] == pytest.approx([0.5] * len(dataset["data"]))
        assert [bar.get_y() + bar.get_height() for bar in container] == pytest.approx(dataset["data"])


def test_line_y_data_match_spec(lecture_specs, palette):
    spec = spec_of(lecture_specs, "capacity-drop")
    axes = draw(spec, palette).axes[0]

    for index, dataset in enumerate(spec.config["data"]["datasets"]):
        line = artist_by_label(axes.get_lines(), dataset["label"])
        assert list(line.get_ydata()) == pytest.approx(dataset["data"])
        assert list(line.get_xdata()) == list(range(len(dataset["data"])))
        assert to_hex(line.get_color()) == to_hex(palette.series[index])


def test_line_percent_ticks_and_numeric_labels(lecture_specs, palette):
    axes = draw(spec_of(lecture_specs, "capacity-drop"), palette).axes[0]
    y_labels = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    x_labels = [t.get_text() for t in axes.get_xticklabels()]

    assert all(label.endswith("%") for label in y_labels)
    assert "0%" in y_labels
    # JSON 1.0 is the number 1, which JavaScript prints as "1".
    assert x_labels[0] == "1"


def test_log_line_keeps_log_steps(lecture_specs, palette):
    axes = draw(spec_of(lecture_specs, "ssm-time"), palette).axes[0]
    labels = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]

    assert axes.get_yscale() == "log"
    assert labels
    assert set(labels) <= {"0.01", "0.1", "1", "10", "100", "1K", "10K", "100K"}


def test_scatter_offsets_and_point_labels(lecture_specs, palette):
    spec = spec_of(lecture_specs, "quality-cost")
    axes = draw(spec, palette).axes[0]
    annotations = {text.get_text(): text.xy for text in axes.texts}

    assert axes.get_xscale() == "log"
    assert axes.get_xlim() == pytest.approx((5, 100))
    assert axes.get_ylim() == pytest.approx((40, 75))
    for dataset in spec.config["data"]["datasets"]:
        collection = artist_by_label(axes.collections, dataset["label"])
        expected = [[point["x"], point["y"]] for point in dataset["data"]]
        assert np.allclose(collection.get_offsets(), expected)
        for point in dataset["data"]:
            assert annotations[point["label"]] == pytest.approx((point["x"], point["y"]))


def test_scatter_point_styles(lecture_specs, palette):
    spec = spec_of(lecture_specs, "quality-cost")
    axes = draw(spec, palette).axes[0]
    legend_markers = [handle.get_marker() for handle in axes.figure.legends[0].legend_handles]
    assert legend_markers == ["o", "D", "^"]


def test_dashed_line_and_show_line(palette):
    config = {
        "type": "scatter",
        "data": {"datasets": [{"label": "fit", "data": [{"x": 1, "y": 2}, {"x": 2, "y": 4}], "showLine": True,
                               "borderDash": [6, 4]}]},
        "options": {},
    }
    axes = draw_chart(config, palette, width=400, height=300).axes[0]
    line = axes.get_lines()[0]

    assert list(line.get_ydata()) == [2, 4]
    assert line.get_linestyle() == "--"


def test_light_series_get_second_cue(palette):
    from livedeck.figures import contrast_ratio, is_weak

    weak = [index for index in range(3) if is_weak(palette.series_color(index), palette)]
    assert weak == [2], "the theme's third colour (orange) is the light one this test expects"
    line = {
        "type": "line",
        "data": {"labels": [1, 2], "datasets": [{"label": f"s{i}", "data": [i, i + 1]} for i in range(3)]},
        "options": {},
    }
    axes = draw_chart(line, palette, width=400, height=300).axes[0]
    styles = [line.get_linestyle() for line in axes.get_lines()]
    assert styles == ["-", "-", "--"]
    markers = [collection.get_paths()[0].vertices.shape[0] for collection in axes.collections]
    assert markers[2] != markers[0]  # a triangle, not a circle

    bars = {
        "type": "bar",
        "data": {"labels": ["a"], "datasets": [{"label": f"s{i}", "data": [i + 1]} for i in range(3)]},
        "options": {},
    }
    axes = draw_chart(bars, palette, width=400, height=300).axes[0]
    orange = axes.patches[2]
    assert orange.get_linewidth() > 0
    assert contrast_ratio(orange.get_edgecolor(), palette.background) >= 3
    assert axes.patches[0].get_linewidth() == 0


# --------------------------------------------------------------------------
# Number formats against Intl.NumberFormat in Node
# --------------------------------------------------------------------------

FORMAT_SAMPLES = [0, 0.005, 0.015, 0.123, 0.1234, 0.5, 1, 2.5, 12.345, 999, 999.96, 1234.5, 12345, 99999,
                  123456, 999999, 1234567, 2.5e9, 1e12, -0.4, -1234.5]


@pytest.mark.skipif(shutil.which("node") is None, reason="node not found")
def test_named_formats_match_intl():
    # The same formatter options as NUMBER_FORMATS in theme/chart-defaults.js.
    script = """
    const formats = {
      percent: new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 0 }),
      percent1: new Intl.NumberFormat('en-US', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }),
      integer: new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }),
      fixed2: new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
      compact: new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }),
    };
    const values = JSON.parse(process.argv[1]);
    const out = {};
    for (const [name, format] of Object.entries(formats)) out[name] = values.map((v) => format.format(v));
    console.log(JSON.stringify(out));
    """
    result = subprocess.run(["node", "-e", script, json.dumps(FORMAT_SAMPLES)], capture_output=True, text=True, check=True)
    expected = json.loads(result.stdout)
    defaults_js = (ROOT / "theme" / "chart-defaults.js").read_text(encoding="utf-8")

    assert set(expected) == set(NUMBER_FORMATS)
    for name in expected:
        assert f"{name}: new Intl.NumberFormat" in defaults_js
        assert [NUMBER_FORMATS[name](value) for value in FORMAT_SAMPLES] == expected[name], name


# --------------------------------------------------------------------------
# One palette for Chart.js and matplotlib
# --------------------------------------------------------------------------

SCRATCH_DECK = """---
marp: true
theme: livedeck
---

# Colours

{{ chart("values", "bar", labels=["a", "b", "c"], datasets=[dataset("values", [1, 3, 2])], label="values") }}
"""


def change_first_series_color(css_path):
    text = css_path.read_text(encoding="utf-8")
    changed = re.sub(r"--chart-color-1:\s*[^;]+;", f"--chart-color-1: {CHANGED_COLOR};", text, count=1)
    assert changed != text
    css_path.write_text(changed, encoding="utf-8")


def test_palette_reads_theme_properties(palette):
    css = THEME.read_text(encoding="utf-8")
    first = re.search(r"--chart-color-1:\s*([^;]+);", css).group(1).strip()
    background = re.search(r"--slide-bg:\s*([^;]+);", css).group(1).strip()

    assert len(palette.series) == 12
    assert to_hex(palette.series[0]) == first.lower()
    assert to_hex(palette.background) == background.lower()
    assert palette.font_families[0] == "Source Sans 3"
    # rgba() keeps its alpha: --chart-grid-light is a translucent green.
    assert 0 < palette.grid[3] < 1


def test_theme_color_change_reaches_both_renderers(scratch, open_deck):
    change_first_series_color(scratch.theme / "livedeck.css")
    (scratch.slides / "colours.md.j2").write_text(SCRATCH_DECK)
    run_tool(scratch, "build", "--no-pdf", "--no-experiments")

    page, watch = open_deck(scratch.build / "colours.html")
    chart_js_colors = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('chart-values'));
            const element = chart.getDatasetMeta(0).data[0];
            return [element.options.backgroundColor, element.options.borderColor];
        }"""
    )
    assert watch.page_errors == []
    assert [color.lower() for color in chart_js_colors] == [CHANGED_COLOR, CHANGED_COLOR]

    paths = write_figures(scratch, ["colours"])
    assert sorted(p.name for p in paths) == ["values.png", "values.svg"]
    markdown, _ = render_deck(scratch, "colours")
    spec = read_chart_specs(markdown, "colours")[0]
    bar = draw(spec, read_palette(scratch.theme / "livedeck.css")).axes[0].containers[0][0]
    assert to_hex(bar.get_facecolor()) == CHANGED_COLOR
    with Image.open(paths[0]) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert (pixels == (0x12, 0x34, 0x56)).all(axis=1).any(), "no pixel of the changed colour in the PNG"


def test_missing_palette_property_is_named(tmp_path):
    css = tmp_path / "theme.css"
    css.write_text(re.sub(r"--slide-bg:[^;]+;", "", THEME.read_text(encoding="utf-8")))
    with pytest.raises(LivedeckError, match="--slide-bg"):
        read_palette(css)


# --------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------


def test_fonts_register_bundled_family(project, palette):
    from matplotlib import font_manager

    family = register_fonts(project, palette)
    found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert family == "Source Sans 3"
    assert found.startswith(str(project.build / ".cache" / "fonts"))


def test_missing_font_package_raises(scratch, palette):
    (scratch.root / "node_modules").unlink()
    (scratch.root / "node_modules").mkdir()
    with pytest.raises(LivedeckError, match="@fontsource/source-sans-3.*npm ci") as caught:
        register_fonts(scratch, palette)
    assert caught.value.code == "missing-node-modules"


# --------------------------------------------------------------------------
# Unsupported charts
# --------------------------------------------------------------------------

PIE = {"type": "pie", "data": {"labels": ["a", "b"], "datasets": [{"label": "share", "data": [1, 2]}]}, "options": {}}


def test_unsupported_type_names_deck_and_chart(palette):
    with pytest.raises(LivedeckError) as caught:
        draw_chart(PIE, palette, where="deck lecture, chart shares")
    message = str(caught.value)
    assert caught.value.code == "unsupported-chart"
    assert "deck lecture, chart shares" in message
    assert "'pie'" in message
    assert "bar, line, scatter" in message


@pytest.mark.parametrize(
    "options, dataset_options, expected",
    [
        ({"scales": {"y": {"stacked": True}}}, {}, "options.scales.y.stacked"),
        ({"scales": {"y2": {}}}, {}, "options.scales.y2"),
        ({"scales": {"y": {"type": "time"}}}, {}, "'time'"),
        ({"scales": {"y": {"ticks": {"format": "currency"}}}}, {}, "'currency'"),
        ({}, {"yAxisID": "y2"}, "'y2'"),
        ({}, {"pointStyle": "rectRounded"}, "rectRounded"),
        ({}, {"tension": 0.4}, "dataset 1.tension"),
    ],
)
def test_unsupported_option_raises(palette, options, dataset_options, expected):
    config = {"type": "line", "data": {"labels": ["a", "b"], "datasets": [{"label": "s", "data": [1, 2], **dataset_options}]},
              "options": options}
    with pytest.raises(LivedeckError, match=re.escape(expected)) as caught:
        draw_chart(config, palette, where="deck d, chart c")
    assert str(caught.value).startswith("deck d, chart c: ")


def test_interaction_options_are_ignored(palette):
    config = {"type": "bar", "data": {"labels": ["a"], "datasets": [{"label": "s", "data": [1], "pointHoverRadius": 3}]},
              "options": {"plugins": {"tooltip": {"format": "percent"}}, "animation": False}}
    assert draw_chart(config, palette).axes[0].containers


def test_spec_without_canvas_raises():
    markdown = '<script type="application/json" class="ld-chart-spec" data-chart-id="lost">{"type":"bar"}</script>'
    with pytest.raises(LivedeckError, match="deck d, chart lost: canvas #chart-lost not found"):
        read_chart_specs(markdown, "d")


def test_module_exposes_write_figures():
    assert callable(figures.write_figures)
