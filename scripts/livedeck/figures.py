"""Static figures of a deck's charts: each Chart.js spec of a slide drawn again by matplotlib.

`write_figures` renders every deck and reads the chart specs the build places in the slides,
the same JSON that theme/chart-defaults.js passes to Chart.js. It writes each chart as a 300 dpi
PNG and an SVG to `build/figures/<deck>/<chart-id>.png|.svg`, for papers, handouts and
documents that cannot embed a live chart.

The look follows the slide: series colours, text, grid, background and font come from the
custom properties of theme/livedeck.css, the same ones chart-defaults.js reads, and the text is
set in the bundled @fontsource font. Sizes mirror the canvas: one CSS pixel of the slide is
1/96 inch in the figure, so a 1080x400 canvas gives an 11.25 x 4.17 inch figure.

Supported: chart types bar, line and scatter; scales x and y of type category, linear or
logarithmic with min, max, beginAtZero, title and the named tick formats and `ticks.logSteps`
of chart-defaults.js; `indexAxis: "y"`; the legend; dataset colours, pointStyle, pointRadius,
borderDash, borderWidth, showLine and fill; point labels ({x, y, label}). Any other chart type or
option raises LivedeckError, except options that only affect interaction (tooltips, animation,
hover), which a static image leaves out.
"""

import html
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from .errors import LivedeckError
from .fileio import write_bytes_atomic
from .paths import Project

log = logging.getLogger("livedeck.figures")

DPI = 300
# CSS pixels per inch, so a canvas size in pixels becomes a figure size in inches.
CSS_PIXELS_PER_INCH = 96
POINTS_PER_PIXEL = 72 / CSS_PIXELS_PER_INCH

# Font sizes in CSS pixels, as chart-defaults.js sets them (`fonts.sizes`).
FONT_PX = {"ticks": 16, "legend": 16, "axis_title": 18, "title": 22, "point_label": 16}

# Chart.js 4 defaults that chart-defaults.js keeps or sets, in CSS pixels.
BAR_CATEGORY_PERCENTAGE = 0.8
BAR_PERCENTAGE = 0.9
LINE_WIDTH_PX = 3
LINE_POINT_RADIUS_PX = 4
SCATTER_POINT_RADIUS_PX = 6
POINT_BORDER_WIDTH_PX = 1
GRID_WIDTH_PX = 1
TICK_LENGTH_PX = 8
TICK_PADDING_PX = 3
AUTO_SKIP_PADDING_PX = 3
# The legend marker: a 10 px box (`labels.boxWidth`) with the dataset's border around it.
LEGEND_MARKER_PX = 13
LEGEND_PADDING_PX = 18
# Chart.js places at most 11 ticks on a linear axis, and one per 40 px on a horizontal one.
MAX_LINEAR_TICKS = 11
HORIZONTAL_TICK_SPACING_PX = 40
# The spacing below which a logarithmic axis keeps only its labelled ticks: a 16 px label and padding.
LOG_TICK_SPACING_PX = 22
# Alpha of the fills chart-defaults.js derives from a series colour.
LINE_FILL_ALPHA = 0.1
SCATTER_FILL_ALPHA = 0.75

THEME_CSS = "livedeck.css"
SERIES_COLOR_COUNT = 12
CHART_TYPES = ("bar", "line", "scatter")
SCALE_TYPES = ("category", "linear", "logarithmic")
LEGEND_POSITIONS = {
    "top": "outside upper center",
    "bottom": "outside lower center",
    "left": "outside center left",
    "right": "outside center right",
}
# Chart.js point styles and the matplotlib markers that draw them.
POINT_STYLES = {"circle": "o", "rect": "s", "rectRot": "D", "triangle": "^", "cross": "P", "crossRot": "X", "star": "*"}
# rectRot's corners sit at the radius, where matplotlib's "D" is drawn smaller for the same size.
MARKER_SCALE = {"D": 1.25, "^": 1.15}
# The fallback for characters outside the bundled Latin subset; it ships with matplotlib.
FALLBACK_FONT = "DejaVu Sans"

SPEC_SCRIPT = re.compile(
    r'<script type="application/json" class="ld-chart-spec"(?P<attributes>[^>]*)>(?P<json>.*?)</script>'
    r"(?:<figcaption>(?P<caption>.*?)</figcaption>)?",
    re.S,
)
ATTRIBUTE = re.compile(r'([a-zA-Z-]+)="([^"]*)"')
CUSTOM_PROPERTY = re.compile(r"(--[a-zA-Z0-9-]+)\s*:\s*([^;]+);")
ROOT_RULE = re.compile(r":root\s*\{(?P<body>[^}]*)\}")


# ==========================================================================
# Palette: the theme's custom properties
# ==========================================================================


@dataclass(frozen=True)
class Palette:
    """The theme colours and font a chart uses, as matplotlib RGBA tuples and font family names."""

    series: tuple[tuple[float, float, float, float], ...]
    text_primary: tuple[float, float, float, float]
    text_secondary: tuple[float, float, float, float]
    axis: tuple[float, float, float, float]
    grid: tuple[float, float, float, float]
    border: tuple[float, float, float, float]
    background: tuple[float, float, float, float]
    font_families: tuple[str, ...]

    def series_color(self, index: int):
        """Return series colour `index`, cycling after twelve as chart-defaults.js does."""
        return self.series[index % len(self.series)]


def parse_css_color(text: str, where: str) -> tuple[float, float, float, float]:
    """Parse a CSS colour (#rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba() or a CSS name) into RGBA 0-1."""
    from matplotlib.colors import to_rgba

    value = text.strip()
    functional = re.fullmatch(
        r"rgba?\(\s*([\d.]+%?)[\s,]+([\d.]+%?)[\s,]+([\d.]+%?)\s*(?:[,/]\s*([\d.]+%?)\s*)?\)", value, re.I
    )
    if functional:
        channels = [_css_channel(part) for part in functional.groups()[:3]]
        alpha_text = functional.group(4)
        if alpha_text is None:
            alpha = 1.0
        elif alpha_text.endswith("%"):
            alpha = float(alpha_text[:-1]) / 100
        else:
            alpha = float(alpha_text)
        return (*channels, min(max(alpha, 0.0), 1.0))
    try:
        return tuple(float(channel) for channel in to_rgba(value))
    except ValueError:
        raise LivedeckError(
            "invalid-theme",
            f"{where}: colour {value!r} is not a hex colour, rgb(), rgba() or a CSS colour name; "
            "static figures read only those",
        ) from None


def _css_channel(text: str) -> float:
    if text.endswith("%"):
        return min(max(float(text[:-1]) / 100, 0.0), 1.0)
    return min(max(float(text) / 255, 0.0), 1.0)


def read_custom_properties(css_path: Path) -> dict[str, str]:
    """Return the custom properties declared in the `:root` rules of a CSS file, later ones winning."""
    if not css_path.is_file():
        raise LivedeckError("invalid-theme", f"theme stylesheet {css_path} not found")
    text = re.sub(r"/\*.*?\*/", "", css_path.read_text(encoding="utf-8"), flags=re.S)
    properties = {}
    for rule in ROOT_RULE.finditer(text):
        for name, value in CUSTOM_PROPERTY.findall(rule.group("body")):
            properties[name] = value.strip()
    return properties


def read_palette(css_path: Path) -> Palette:
    """Read the chart palette from the theme's custom properties, the ones chart-defaults.js reads.

    A missing property raises LivedeckError, so the figures never fall back to colours the theme
    does not contain.
    """
    properties = read_custom_properties(css_path)

    def read(name: str) -> str:
        if name not in properties:
            raise LivedeckError(
                "invalid-theme", f"{css_path}: custom property {name} not found in :root; the chart palette needs it"
            )
        return properties[name]

    def color(name: str):
        return parse_css_color(read(name), f"{css_path}: {name}")

    families = tuple(part.strip().strip("'\"") for part in read("--chart-font-family").split(","))
    return Palette(
        series=tuple(color(f"--chart-color-{number}") for number in range(1, SERIES_COLOR_COUNT + 1)),
        text_primary=color("--text-primary"),
        text_secondary=color("--text-secondary"),
        axis=color("--chart-axis-color"),
        grid=color("--chart-grid-light"),
        border=color("--chart-grid-dark"),
        background=color("--slide-bg"),
        font_families=tuple(family for family in families if family),
    )


def with_alpha(color, alpha: float):
    """Return `color` with its alpha replaced, like getColorWithAlpha in chart-defaults.js."""
    return (color[0], color[1], color[2], alpha)


# A series colour under 3:1 against the slide (WCAG 2.1, 1.4.11) gets a second cue, as in
# chart-defaults.js: dashes and its own point shape on lines, a dark outline on bars and points.
MIN_CONTRAST = 3.0
WEAK_POINT_STYLES = ("triangle", "rectRot", "rect", "star")
WEAK_DASHES_PX = (10, 6)
WEAK_OUTLINE_PX = 2


def _luminance(color) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in color[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first, second) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def is_weak(color, palette) -> bool:
    return contrast_ratio(color, palette.background) < MIN_CONTRAST


def outline_color(color, palette):
    """Return `color` darkened in steps of 10% until it reaches 3:1 on the slide, as the runtime does."""
    for step in range(9, 0, -1):
        keep = step / 10
        # The runtime rounds each channel to a byte, so this does too.
        darker = tuple(round(c * 255 * keep) / 255 for c in color[:3]) + (1.0,)
        if not is_weak(darker, palette):
            return darker
    return (0.0, 0.0, 0.0, 1.0)


def weak_point_style(index: int, palette) -> str:
    """Return the point style of series `index`: circle, or the next free shape among weak series."""
    if not is_weak(palette.series_color(index), palette):
        return "circle"
    weak_before = sum(1 for i in range(index) if is_weak(palette.series_color(i), palette))
    return WEAK_POINT_STYLES[weak_before % len(WEAK_POINT_STYLES)]


# ==========================================================================
# Fonts: the bundled @fontsource files, converted for matplotlib
# ==========================================================================

_registered_fonts: set[Path] = set()


def fontsource_package(family: str) -> str:
    """Return the @fontsource package name of a font family: "Source Sans 3" -> "source-sans-3"."""
    return re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-")


def register_fonts(project: Project, palette: Palette, weights=(400, 600)) -> str:
    """Convert the theme font's Latin WOFF2 files to TTF under build/.cache/fonts and register them.

    Returns the family name. matplotlib cannot read WOFF2, so fontTools decompresses it (which
    needs the brotli package). The TTF is rebuilt when its WOFF2 file is newer.
    """
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    family = palette.font_families[0] if palette.font_families else ""
    package = fontsource_package(family)
    folder = project.node_modules / "@fontsource" / package
    if not family or not folder.is_dir():
        raise LivedeckError(
            "missing-node-modules",
            f"font package @fontsource/{package or '?'} for --chart-font-family {family!r} not found at "
            f"{project.relative(folder)}; run `npm ci` in the project folder (or `make setup`) to install it",
        )

    cache = project.build / ".cache" / "fonts"
    for weight in weights:
        name = f"{package}-latin-{weight}-normal"
        source = folder / "files" / f"{name}.woff2"
        if not source.is_file():
            raise LivedeckError(
                "missing-node-modules",
                f"font file {project.relative(source)} not found; run `npm ci` (or `make setup`) to reinstall @fontsource/{package}",
            )
        target = cache / f"{name}.ttf"
        if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
            try:
                font = TTFont(source)
            except ImportError as error:
                raise LivedeckError(
                    "missing-package", f"reading {source.name} needs the brotli package ({error}); run `make setup`"
                ) from None
            font.flavor = None
            _rename_font(font, family, weight)
            buffer = io.BytesIO()
            font.save(buffer)
            write_bytes_atomic(target, buffer.getvalue())
            log.debug("converted %s to %s", project.relative(source), project.relative(target))
        if target not in _registered_fonts:
            font_manager.fontManager.addfont(str(target))
            _registered_fonts.add(target)
    return family


def _rename_font(font, family: str, weight: int) -> None:
    """Name the font `family` at `weight`, as the CSS @font-face rule does.

    The @fontsource files are instances of a variable font and keep its instance names (Source
    Sans 3 at weight 400 is named "Source Sans 3 ExtraLight"), so matplotlib would not find the
    family the theme names.
    """
    style = {400: "Regular", 600: "SemiBold", 700: "Bold"}.get(weight, str(weight))
    names = font["name"]
    for name_id in (16, 17):
        names.removeNames(nameID=name_id)
    names.setName(family, 1, 3, 1, 0x409)
    names.setName(style, 2, 3, 1, 0x409)
    names.setName(f"{family} {style}", 4, 3, 1, 0x409)
    names.setName(f"{family.replace(' ', '')}-{style}", 6, 3, 1, 0x409)
    font["OS/2"].usWeightClass = weight


# ==========================================================================
# Chart specs in a rendered deck
# ==========================================================================


@dataclass(frozen=True)
class ChartSpec:
    """One declarative chart of a deck: its id, Chart.js config, canvas size and texts."""

    deck: str
    chart_id: str
    config: dict
    width: int
    height: int
    label: str
    caption: str | None

    @property
    def where(self) -> str:
        return f"deck {self.deck}, chart {self.chart_id}"


def read_chart_specs(markdown: str, deck: str) -> list[ChartSpec]:
    """Return the chart specs of a rendered deck in slide order, with the size of each chart's canvas.

    Like chart-defaults.js, a spec finds its canvas by the id `chart-<data-chart-id>`.
    """
    specs = []
    seen = set()
    for match in SPEC_SCRIPT.finditer(markdown):
        attributes = dict(ATTRIBUTE.findall(match.group("attributes")))
        chart_id = attributes.get("data-chart-id", "").strip()
        where = f"deck {deck}, chart {chart_id or f'spec {len(specs) + 1}'}"
        if not chart_id:
            raise LivedeckError("invalid-chart", f"{where}: the chart spec has no data-chart-id")
        if chart_id in seen:
            raise LivedeckError("duplicate-chart", f"{where}: the chart id is used twice; give each chart its own id")
        seen.add(chart_id)
        try:
            config = json.loads(match.group("json"))
        except json.JSONDecodeError as error:
            raise LivedeckError("invalid-chart", f"{where}: invalid JSON in the chart spec: {error}") from None

        canvas = re.search(rf'<canvas id="chart-{re.escape(chart_id)}"(?P<attributes>[^>]*)>', markdown)
        if canvas is None:
            raise LivedeckError("invalid-chart", f"{where}: canvas #chart-{chart_id} not found next to its spec")
        canvas_attributes = dict(ATTRIBUTE.findall(canvas.group("attributes")))
        caption = match.group("caption")
        specs.append(
            ChartSpec(
                deck=deck,
                chart_id=chart_id,
                config=config,
                width=int(canvas_attributes.get("width", 300)),
                height=int(canvas_attributes.get("height", 150)),
                label=_unescape(canvas_attributes.get("aria-label", "")),
                caption=_unescape(caption) if caption is not None else None,
            )
        )
    return specs


def _unescape(text: str) -> str:
    return html.unescape(text)


# ==========================================================================
# Checking a spec against what static figures draw
# ==========================================================================

# Options a static figure has no use for: they change only interaction or animation.
IGNORED = "ignored"
# Options that are drawn; their values are checked where they are used.
DRAWN = "drawn"

SCALE_OPTIONS = {
    "type": DRAWN,
    "min": DRAWN,
    "max": DRAWN,
    "beginAtZero": DRAWN,
    "title": {"display": DRAWN, "text": DRAWN},
    "ticks": {
        "format": DRAWN,
        "logSteps": DRAWN,
        "maxTicksLimit": DRAWN,
        "autoSkip": DRAWN,
        "autoSkipPadding": DRAWN,
        "maxRotation": IGNORED,
        "minRotation": IGNORED,
    },
    "grid": {"display": DRAWN},
}
CHART_OPTIONS = {
    "indexAxis": DRAWN,
    "scales": {"x": SCALE_OPTIONS, "y": SCALE_OPTIONS},
    "plugins": {
        "legend": {"display": DRAWN, "position": DRAWN},
        "title": {"display": DRAWN, "text": DRAWN},
        "tooltip": IGNORED,
    },
    "animation": IGNORED,
    "interaction": IGNORED,
    "hover": IGNORED,
    "events": IGNORED,
    "responsive": IGNORED,
    "maintainAspectRatio": IGNORED,
}
DATASET_OPTIONS = {
    "label": DRAWN,
    "data": DRAWN,
    "type": DRAWN,
    "xAxisID": DRAWN,
    "yAxisID": DRAWN,
    "backgroundColor": DRAWN,
    "borderColor": DRAWN,
    "borderWidth": DRAWN,
    "borderDash": DRAWN,
    "pointStyle": DRAWN,
    "pointRadius": DRAWN,
    "pointBackgroundColor": DRAWN,
    "pointBorderColor": DRAWN,
    "showLine": DRAWN,
    "fill": DRAWN,
    "pointHoverRadius": IGNORED,
    "hoverBackgroundColor": IGNORED,
    "hoverBorderColor": IGNORED,
}


def unsupported(where: str, message: str) -> LivedeckError:
    return LivedeckError("unsupported-chart", f"{where}: {message}")


def check_keys(value, rules: dict, path: str, where: str) -> None:
    """Raise LivedeckError for a key of `value` that `rules` does not list, recursing into nested rules."""
    if not isinstance(value, dict):
        raise unsupported(where, f"{path} must be an object, got {json.dumps(value)}")
    for key, item in value.items():
        rule = rules.get(key)
        if rule is None:
            raise unsupported(
                where,
                f"option {path}.{key} is not supported by static figures; supported in {path}: {', '.join(rules)}. "
                "Remove it, or draw this chart only on the slide",
            )
        if isinstance(rule, dict):
            check_keys(item, rules[key], f"{path}.{key}", where)


def check_spec(config: dict, where: str) -> None:
    """Raise LivedeckError when a chart uses a type, option or value that the figure cannot draw as the slide does."""
    if not isinstance(config, dict):
        raise unsupported(where, "the chart spec is not a JSON object")
    chart_type = config.get("type")
    if chart_type not in CHART_TYPES:
        raise unsupported(
            where, f"chart type {chart_type!r} is not supported by static figures; supported: {', '.join(CHART_TYPES)}"
        )
    data = config.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), list):
        raise unsupported(where, 'the chart spec has no "data.datasets" list')
    options = config.get("options") or {}
    check_keys(options, CHART_OPTIONS, "options", where)

    index_axis = options.get("indexAxis", "x")
    if index_axis not in ("x", "y") or (index_axis == "y" and chart_type != "bar"):
        raise unsupported(where, f'options.indexAxis {index_axis!r} is supported only as "x", or "y" on a bar chart')
    position = options.get("plugins", {}).get("legend", {}).get("position", "top")
    if position not in LEGEND_POSITIONS:
        raise unsupported(where, f"legend position {position!r}; supported: {', '.join(LEGEND_POSITIONS)}")
    for scale_id, scale in options.get("scales", {}).items():
        _check_scale(scale, f"options.scales.{scale_id}", where)

    for number, dataset in enumerate(data["datasets"], start=1):
        path = f"dataset {number}"
        check_keys(dataset, DATASET_OPTIONS, path, where)
        if dataset.get("type", chart_type) != chart_type:
            raise unsupported(where, f"{path} has type {dataset['type']!r}; mixed chart types are not supported")
        for axis in ("x", "y"):
            axis_id = dataset.get(f"{axis}AxisID", axis)
            if axis_id != axis:
                raise unsupported(where, f"{path} uses scale {axis_id!r}; static figures draw only the scales x and y")
        style = dataset.get("pointStyle", "circle")
        if style not in POINT_STYLES:
            raise unsupported(where, f"{path} pointStyle {style!r}; supported: {', '.join(POINT_STYLES)}")
        for key in ("backgroundColor", "borderColor", "pointBackgroundColor", "pointBorderColor"):
            if key in dataset and not isinstance(dataset[key], str):
                raise unsupported(where, f"{path} {key} must be one colour string; per-point colours are not supported")
        if dataset.get("fill", False) not in (False, True, "origin"):
            raise unsupported(where, f"{path} fill {dataset['fill']!r}; supported: true, false, \"origin\"")
        if not isinstance(dataset.get("data"), list):
            raise unsupported(where, f"{path} has no data list")


def _check_scale(scale: dict, path: str, where: str) -> None:
    scale_type = scale.get("type")
    if scale_type is not None and scale_type not in SCALE_TYPES:
        raise unsupported(where, f"{path}.type {scale_type!r}; supported: {', '.join(SCALE_TYPES)}")
    ticks = scale.get("ticks", {})
    if "format" in ticks and ticks["format"] not in NUMBER_FORMATS:
        raise unsupported(where, f"unknown format {ticks['format']!r} in {path}.ticks.format: use one of {', '.join(NUMBER_FORMATS)}")
    steps = ticks.get("logSteps")
    if steps is not None and not (isinstance(steps, list) and all(isinstance(s, (int, float)) and 1 <= s < 10 for s in steps)):
        raise unsupported(where, f"{path}.ticks.logSteps must be a list of numbers from 1 to 9.99, such as [1, 2, 5]")


# ==========================================================================
# Number formats: the named tick formats of chart-defaults.js
# ==========================================================================


def _decimal(value) -> Decimal:
    """Return the shortest decimal that round-trips `value`, the digits Intl.NumberFormat rounds."""
    return Decimal(repr(float(value)))


def format_decimal(value, min_fraction: int, max_fraction: int, grouping: bool = True) -> str:
    """Format like Intl.NumberFormat("en-US"): ties round away from zero, "," groups thousands."""
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-max_fraction), rounding=ROUND_HALF_UP)
    text = f"{rounded:,f}" if grouping else f"{rounded:f}"
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0")
        fraction = fraction + "0" * (min_fraction - len(fraction))
        text = f"{whole}.{fraction}" if fraction else whole
    return text


def format_compact(value) -> str:
    """Format like Intl.NumberFormat("en-US", {notation: "compact", maximumFractionDigits: 1}): 1234567 -> 1.2M."""
    number = _decimal(value)
    suffixes = ["", "K", "M", "B", "T"]
    group = 0
    if number != 0:
        group = min(max(int(math.floor(math.log10(abs(float(number))) / 3)), 0), len(suffixes) - 1)
    while True:
        scaled = (number.scaleb(-3 * group)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        # 999,960 rounds to 1000.0K, which Intl writes as 1M.
        if abs(scaled) >= 1000 and group < len(suffixes) - 1:
            group += 1
            continue
        return format_decimal(float(scaled), 0, 1) + suffixes[group]


NUMBER_FORMATS = {
    "percent": lambda value: format_decimal(float(_decimal(value) * 100), 0, 0) + "%",
    "percent1": lambda value: format_decimal(float(_decimal(value) * 100), 1, 1) + "%",
    "integer": lambda value: format_decimal(value, 0, 0),
    "fixed2": lambda value: format_decimal(value, 2, 2),
    "compact": format_compact,
}


def format_numeric_tick(value: float, ticks: list[float]) -> str:
    """Format a tick as Chart.js's default numeric formatter does: decimals from the tick spacing."""
    if value == 0:
        return "0"
    delta = value
    if len(ticks) > 1:
        delta = ticks[2] - ticks[1] if len(ticks) > 3 else ticks[1] - ticks[0]
        if abs(delta) >= 1 and value != math.floor(value):
            delta = value - math.floor(value)
    decimals = max(min(-math.floor(math.log10(abs(delta))), 20), 0) if delta else 1
    return format_decimal(value, decimals, decimals)


def js_string(value) -> str:
    """Return `value` as JavaScript's String() writes a JSON value: 1.0 -> "1", a list joined by newlines."""
    if isinstance(value, list):
        return "\n".join(js_string(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if value is None:
        return "null"
    return str(value)


# ==========================================================================
# Scales: ticks and limits as Chart.js computes them
# ==========================================================================


@dataclass
class Scale:
    """One value axis: its limits, tick positions and tick labels."""

    kind: str
    low: float
    high: float
    ticks: list[float]
    labels: list[str]


def log_ticks(low: float, high: float) -> list[tuple[float, int]]:
    """Return (value, significand) ticks from `low` to `high`, as Chart.js 4's logarithmic scale generates them."""

    def floor_exponent(value):
        return math.floor(math.log10(value))

    def steps(exponent):
        step = 10.0**exponent
        return math.ceil(high / step) - math.floor(low / step)

    exponent = floor_exponent(high - low) if high > low else floor_exponent(low)
    while steps(exponent) > 10:
        exponent += 1
    while steps(exponent) < 10:
        exponent -= 1
    exponent = min(exponent, floor_exponent(low))

    precision = 10.0 ** abs(exponent) if exponent < 0 else 1.0
    min_exponent = floor_exponent(low)
    base = 10.0**min_exponent if min_exponent > exponent else 0.0
    start = round((low - base) * precision) / precision
    offset = math.floor((low - base) / 10.0**exponent / 10) * 10.0**exponent * 10
    significand = math.floor((start - offset) / 10.0**exponent)
    value = round((base + offset + significand * 10.0**exponent) * precision) / precision

    ticks = []
    while value < high:
        ticks.append((value, significand))
        if significand >= 10:
            significand = 15 if significand < 15 else 20
        else:
            significand += 1
        if significand >= 20:
            exponent += 1
            significand = 2
            precision = 1.0 if exponent >= 0 else precision
        value = round((base + offset + significand * 10.0**exponent) * precision) / precision
    ticks.append((value, significand))
    return ticks


def make_scale(values: list[float], options: dict, *, default_type: str, begin_at_zero: bool, length_px: float,
               horizontal: bool, where: str) -> Scale:
    """Compute a linear or logarithmic value axis for `values` under a spec's scale options."""
    kind = options.get("type", default_type)
    if kind == "category":
        raise unsupported(where, "a category scale on the value axis is not supported; use linear or logarithmic")
    user_min, user_max = options.get("min"), options.get("max")
    ticks_options = options.get("ticks", {})
    begin_at_zero = options.get("beginAtZero", begin_at_zero)
    finite = [v for v in values if v is not None and math.isfinite(v)]

    if kind == "logarithmic":
        positive = [v for v in finite if v > 0]
        low = min(positive) if positive else 1.0
        high = max(positive) if positive else 10.0
        if low == high:
            low, high = 10.0 ** (math.floor(math.log10(low)) - 1), 10.0 ** (math.floor(math.log10(high)) + 1)
        low = user_min if user_min is not None else low
        high = user_max if user_max is not None else high
        if low <= 0 or high <= low:
            raise unsupported(where, f"logarithmic scale needs 0 < min < max, got min {low} and max {high}")
        generated = log_ticks(low, high)
        if user_max is not None:
            generated[-1] = (user_max, generated[-1][1])
        positions = [value for value, _ in generated]
        labels = [_log_label(value, significand, index, positions, ticks_options) for index, (value, significand)
                  in enumerate(generated)]
        low, high = positions[0], positions[-1]
        # Chart.js's autoSkip drops crowded ticks with their grid lines. Keeping only the labelled
        # ticks comes close to its choice.
        if len(positions) > length_px / LOG_TICK_SPACING_PX:
            labelled = [(p, label) for p, label in zip(positions, labels) if label]
            positions, labels = [p for p, _ in labelled], [label for _, label in labelled]
        return Scale(kind, low, high, positions, labels)

    low = min(finite) if finite else 0.0
    high = max(finite) if finite else 1.0
    if begin_at_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if low == high:
        high += 1
        low = low if begin_at_zero else low - 1
    low = user_min if user_min is not None else low
    high = user_max if user_max is not None else high
    positions = _linear_ticks(low, high, ticks_options, length_px, horizontal)
    if user_min is None:
        low = positions[0]
    if user_max is None:
        high = positions[-1]
    positions = [p for p in positions if low - 1e-9 <= p <= high + 1e-9]
    label_of = _tick_format(ticks_options)
    labels = [label_of(value) if label_of else format_numeric_tick(value, positions) for value in positions]
    return Scale(kind, low, high, positions, labels)


def _linear_ticks(low: float, high: float, ticks_options: dict, length_px: float, horizontal: bool) -> list[float]:
    from matplotlib.ticker import MaxNLocator

    limit = MAX_LINEAR_TICKS
    if horizontal:
        limit = min(limit, max(2, math.ceil(length_px / HORIZONTAL_TICK_SPACING_PX)))
    limit = min(limit, int(ticks_options.get("maxTicksLimit", limit)))
    # Chart.js spaces ticks by the first of 1, 2, 5 or 10 times a power of ten that fits the limit.
    locator = MaxNLocator(nbins=max(limit - 1, 1), steps=[1, 2, 5, 10])
    return [float(v) for v in locator.tick_values(low, high)]


def _tick_format(ticks_options: dict):
    name = ticks_options.get("format")
    return NUMBER_FORMATS[name] if name else None


def _log_label(value: float, significand: int, index: int, positions: list[float], ticks_options: dict) -> str:
    """Return a log tick's label, or "" for an unlabelled tick, by the rules of Chart.js and chart-defaults.js.

    Chart.js labels the significands 1, 2, 3, 5 and the last fifth of the ticks. A named format
    keeps that choice and changes the text. `logSteps` labels only its significands, and with
    a format as well both conditions must hold.
    """
    label_of = _tick_format(ticks_options)
    steps = ticks_options.get("logSteps")
    labelled_by_default = significand in (1, 2, 3, 5, 10, 15) or index > 0.8 * len(positions)
    if steps is not None:
        mantissa = value / 10.0 ** math.floor(math.log10(value))
        if not any(abs(step - mantissa) < 1e-6 for step in steps):
            return ""
        if label_of is None:
            return format_numeric_tick(value, positions)
    if not labelled_by_default:
        return ""
    return label_of(value) if label_of else format_numeric_tick(value, positions)


# ==========================================================================
# Drawing
# ==========================================================================


def _px(pixels: float) -> float:
    """Convert CSS pixels to points."""
    return pixels * POINTS_PER_PIXEL


def _own_color(dataset: dict, key: str, where: str):
    value = dataset.get(key)
    return parse_css_color(value, f"{where}: {key}") if isinstance(value, str) else None


def _numbers(data: list, where: str, path: str) -> list[float | None]:
    values = []
    for item in data:
        if item is None:
            values.append(None)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            values.append(float(item))
        else:
            raise unsupported(where, f"{path} contains {json.dumps(item)}; expected numbers or null on a category axis")
    return values


def _points(data: list, where: str, path: str) -> list[tuple[float, float, str | None]]:
    points = []
    for item in data:
        if not (isinstance(item, dict) and isinstance(item.get("x"), (int, float)) and isinstance(item.get("y"), (int, float))):
            raise unsupported(where, f"{path} contains {json.dumps(item)}; expected points {{x, y}} or {{x, y, label}}")
        label = item.get("label")
        points.append((float(item["x"]), float(item["y"]), label if isinstance(label, str) else None))
    return points


def draw_chart(config: dict, palette: Palette, *, width: int = 1080, height: int = 430, where: str = "chart"):
    """Draw one Chart.js spec with matplotlib and return the Figure (sized in CSS pixels at 96 dpi).

    The axes carry one artist per dataset, labelled with the dataset label: a BarContainer for a
    bar dataset, a Line2D for a line and a PathCollection for a scatter.
    """
    import matplotlib

    check_spec(config, where)
    family = palette.font_families[0] if palette.font_families else FALLBACK_FONT
    with matplotlib.rc_context(_rc_settings(family)):
        return _draw_checked_chart(config, palette, width, height, where)


def _draw_checked_chart(config: dict, palette: Palette, width: int, height: int, where: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    options = config.get("options") or {}
    chart_type = config["type"]

    figure = Figure(figsize=(width / CSS_PIXELS_PER_INCH, height / CSS_PIXELS_PER_INCH), dpi=CSS_PIXELS_PER_INCH,
                    facecolor=palette.background, layout="constrained")
    FigureCanvasAgg(figure)
    figure.get_layout_engine().set(w_pad=_px(4) / 72, h_pad=_px(4) / 72, wspace=0, hspace=0)
    axes = figure.add_subplot()
    axes.set_facecolor(palette.background)

    legend_entries = []
    if chart_type == "bar":
        legend_entries = _draw_bars(axes, config, palette, width, height, where)
    else:
        legend_entries = _draw_points_and_lines(axes, config, palette, width, height, where)

    _style_axes(axes, palette)
    plugins = options.get("plugins", {})
    _draw_scale_titles(axes, options, palette)
    title = plugins.get("title", {})
    if title.get("display") and title.get("text"):
        figure.suptitle(js_string(title["text"]), fontsize=_px(FONT_PX["title"]), fontweight=600,
                        color=palette.text_primary)
    legend = plugins.get("legend", {})
    if legend.get("display", True) and legend_entries:
        _draw_legend(figure, legend_entries, LEGEND_POSITIONS[legend.get("position", "top")], palette, width)
    _skip_crowded_labels(figure, axes, chart_type, options)
    _place_point_labels(figure, axes, palette)
    return figure


def _draw_bars(axes, config, palette, width, height, where):
    options = config.get("options") or {}
    horizontal = options.get("indexAxis", "x") == "y"
    index_name, value_name = ("y", "x") if horizontal else ("x", "y")
    scales = options.get("scales", {})
    index_options = scales.get(index_name, {})
    if index_options.get("type", "category") != "category":
        raise unsupported(where, f"a bar chart's index axis ({index_name}) must be a category scale")
    labels = [js_string(label) for label in config["data"].get("labels") or []]
    datasets = config["data"]["datasets"]

    series = [_numbers(d["data"], where, f"dataset {n} data") for n, d in enumerate(datasets, start=1)]
    scale = make_scale([v for values in series for v in values if v is not None], scales.get(value_name, {}),
                       default_type="linear", begin_at_zero=True, length_px=width if horizontal else height,
                       horizontal=horizontal, where=where)
    # A bar starts at zero, or at the bottom of a logarithmic axis, as in Chart.js.
    base = scale.low if scale.kind == "logarithmic" else min(max(0.0, scale.low), scale.high)

    count = max(len(labels), max((len(values) for values in series), default=0))
    slot = BAR_CATEGORY_PERCENTAGE / max(len(datasets), 1)
    entries = []
    for index, (dataset, values) in enumerate(zip(datasets, series)):
        fill = _own_color(dataset, "backgroundColor", where) or _own_color(dataset, "borderColor", where) \
            or palette.series_color(index)
        edge = _own_color(dataset, "borderColor", where) or _own_color(dataset, "backgroundColor", where) \
            or palette.series_color(index)
        border_width = dataset.get("borderWidth", 0)
        if not _own_color(dataset, "backgroundColor", where) and is_weak(fill, palette):
            edge, border_width = outline_color(fill, palette), dataset.get("borderWidth", WEAK_OUTLINE_PX)
        positions = [i + (index - (len(datasets) - 1) / 2) * slot for i in range(len(values))]
        present = [(p, v) for p, v in zip(positions, values) if v is not None]
        extents = [v - base for _, v in present]
        place = axes.barh if horizontal else axes.bar
        place([p for p, _ in present], extents, slot * BAR_PERCENTAGE, **{"left" if horizontal else "bottom": base},
              color=fill, edgecolor=edge, linewidth=_px(border_width), label=dataset.get("label", ""))
        entries.append((dataset, fill, edge, border_width, "circle"))

    _apply_scale(axes, value_name, scale)
    category_axis = axes.yaxis if horizontal else axes.xaxis
    category_axis.set_ticks(range(count), labels[:count] + [""] * (count - len(labels)))
    limits = (-0.5, count - 0.5)
    if horizontal:
        # Chart.js draws the first category at the top.
        axes.set_ylim(limits[1], limits[0])
    else:
        axes.set_xlim(*limits)
    # chart-defaults.js hides the grid across the category axis of bar charts.
    _show_grid(axes, index_name, index_options.get("grid", {}).get("display", False), palette)
    _show_grid(axes, value_name, scales.get(value_name, {}).get("grid", {}).get("display", True), palette)
    return entries


def _draw_points_and_lines(axes, config, palette, width, height, where):
    chart_type = config["type"]
    options = config.get("options") or {}
    scales = options.get("scales", {})
    datasets = config["data"]["datasets"]
    x_options = scales.get("x", {})
    x_type = x_options.get("type", "linear" if chart_type == "scatter" else "category")
    on_category = x_type == "category"
    if on_category and chart_type == "scatter":
        raise unsupported(where, "a scatter chart needs a linear or logarithmic x scale")

    labels = [js_string(label) for label in config["data"].get("labels") or []]
    series = []
    for number, dataset in enumerate(datasets, start=1):
        path = f"dataset {number} data"
        if on_category:
            values = _numbers(dataset["data"], where, path)
            series.append([(float(i), v, None) for i, v in enumerate(values)])
        else:
            series.append(_points(dataset["data"], where, path))

    y_values = [y for points in series for _, y, _ in points if y is not None]
    y_scale = make_scale(y_values, scales.get("y", {}), default_type="linear", begin_at_zero=False,
                         length_px=height, horizontal=False, where=where)
    _apply_scale(axes, "y", y_scale)
    if on_category:
        count = max(len(labels), max((len(points) for points in series), default=0))
        axes.xaxis.set_ticks(range(count), labels[:count] + [""] * (count - len(labels)))
        # A line's category axis has no offset: the first and last points sit on the chart edges.
        axes.set_xlim(0, count - 1) if count > 1 else axes.set_xlim(-0.5, 0.5)
    else:
        x_values = [x for points in series for x, _, _ in points]
        x_scale = make_scale(x_values, x_options, default_type="linear", begin_at_zero=False,
                             length_px=width, horizontal=True, where=where)
        _apply_scale(axes, "x", x_scale)
    _show_grid(axes, "x", x_options.get("grid", {}).get("display", True), palette)
    _show_grid(axes, "y", scales.get("y", {}).get("grid", {}).get("display", True), palette)

    entries = []
    for index, (dataset, points) in enumerate(zip(datasets, series)):
        entries.append(_draw_series(axes, chart_type, dataset, points, index, palette, y_scale, where))
    return entries


def _draw_series(axes, chart_type, dataset, points, index, palette, y_scale, where):
    """Draw one line or scatter dataset with the colours and sizes chart-defaults.js gives it."""
    line_color = _own_color(dataset, "borderColor", where) or palette.series_color(index)
    if chart_type == "line":
        fill = _own_color(dataset, "backgroundColor", where) or with_alpha(line_color, LINE_FILL_ALPHA)
        point_fill = _own_color(dataset, "pointBackgroundColor", where) or line_color
        radius = dataset.get("pointRadius", LINE_POINT_RADIUS_PX)
        width = dataset.get("borderWidth", LINE_WIDTH_PX)
        show_line = dataset.get("showLine", True)
    else:
        fill = _own_color(dataset, "backgroundColor", where) or with_alpha(line_color, SCATTER_FILL_ALPHA)
        point_fill = _own_color(dataset, "pointBackgroundColor", where) or fill
        radius = dataset.get("pointRadius", SCATTER_POINT_RADIUS_PX)
        width = dataset.get("borderWidth", LINE_WIDTH_PX)
        show_line = dataset.get("showLine", False)
    weak = not _own_color(dataset, "borderColor", where) and is_weak(line_color, palette)
    point_edge = _own_color(dataset, "pointBorderColor", where) or (outline_color(line_color, palette) if weak else line_color)
    style = dataset.get("pointStyle", weak_point_style(index, palette) if weak else "circle")
    marker = POINT_STYLES[style]
    label = dataset.get("label", "")

    xs = [x for x, _, _ in points]
    ys = [float("nan") if y is None else y for _, y, _ in points]
    default_dashes = WEAK_DASHES_PX if weak and chart_type == "line" else ()
    dashes = [_px(length) for length in dataset.get("borderDash", default_dashes)]
    if show_line:
        line_kwargs = {"dashes": dashes} if dashes else {}
        axes.plot(xs, ys, color=line_color, linewidth=_px(width), solid_capstyle="butt", zorder=2,
                  label=label if chart_type == "line" else f"_{label} line", **line_kwargs)
    if dataset.get("fill", False):
        floor = y_scale.low if y_scale.kind == "logarithmic" else 0.0
        axes.fill_between(xs, ys, floor, color=fill, linewidth=0, zorder=1)
    if radius > 0:
        size = (2 * _px(radius) * MARKER_SCALE.get(marker, 1.0)) ** 2
        collection = axes.scatter(xs, ys, s=size, marker=marker, facecolors=point_fill, edgecolors=point_edge,
                                  linewidths=_px(POINT_BORDER_WIDTH_PX), zorder=3, clip_on=False,
                                  label=label if chart_type == "scatter" else f"_{label} points")
        collection.point_labels = [text for _, _, text in points]
        collection.point_radius_px = radius
    elif chart_type == "scatter":
        # A scatter dataset drawn without points still owns its artist, so tests and labels find it.
        axes.scatter(xs, ys, s=0, label=label).point_labels = [text for _, _, text in points]
    legend_fill = point_fill if chart_type == "line" else fill
    legend_edge = point_edge if weak else line_color
    return dataset, legend_fill, legend_edge, POINT_BORDER_WIDTH_PX if chart_type == "scatter" else width, style


def _apply_scale(axes, name: str, scale: Scale) -> None:
    from matplotlib.ticker import NullLocator

    axis = axes.yaxis if name == "y" else axes.xaxis
    if scale.kind == "logarithmic":
        (axes.set_yscale if name == "y" else axes.set_xscale)("log")
    axis.set_ticks(scale.ticks, scale.labels)
    axis.set_minor_locator(NullLocator())
    (axes.set_ylim if name == "y" else axes.set_xlim)(scale.low, scale.high)


def _show_grid(axes, name: str, visible: bool, palette: Palette) -> None:
    if visible:
        axes.grid(True, axis=name, color=palette.grid, linewidth=_px(GRID_WIDTH_PX))
    else:
        axes.grid(False, axis=name)


def _style_axes(axes, palette: Palette) -> None:
    """Style the frame like the theme: grid lines and tick marks in the grid colour, an axis line on two sides."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(palette.border)
        axes.spines[side].set_linewidth(_px(GRID_WIDTH_PX))
    axes.set_axisbelow(True)
    axes.tick_params(which="major", color=palette.grid, width=_px(GRID_WIDTH_PX), length=_px(TICK_LENGTH_PX),
                     labelcolor=palette.axis, labelsize=_px(FONT_PX["ticks"]), pad=_px(TICK_PADDING_PX))
    # Chart.js draws tick marks as part of the grid, so an axis without grid lines has none.
    for name in ("x", "y"):
        axis = axes.xaxis if name == "x" else axes.yaxis
        if not any(line.get_visible() for line in axis.get_gridlines()):
            axes.tick_params(axis=name, length=0)
    axes.margins(0)


def _draw_scale_titles(axes, options: dict, palette: Palette) -> None:
    for name in ("x", "y"):
        title = options.get("scales", {}).get(name, {}).get("title", {})
        if title.get("display") and title.get("text"):
            setter = axes.set_xlabel if name == "x" else axes.set_ylabel
            setter(js_string(title["text"]), fontsize=_px(FONT_PX["axis_title"]), color=palette.text_primary,
                   labelpad=_px(4))


def _draw_legend(figure, entries, location: str, palette: Palette, width_px: int) -> None:
    """Add the legend as Chart.js draws it with usePointStyle: a marker per dataset in the dataset's style."""
    from matplotlib.lines import Line2D

    handles = []
    for dataset, fill, edge, border_width, style in entries:
        marker = POINT_STYLES[style]
        handles.append(Line2D([], [], linestyle="none", marker=marker,
                              markersize=_px(LEGEND_MARKER_PX),
                              markerfacecolor=fill, markeredgecolor=edge,
                              markeredgewidth=_px(min(border_width, 2)) if border_width else 0,
                              label=dataset.get("label", "")))
    font_size = _px(FONT_PX["legend"])
    columns = len(handles)
    renderer = figure.canvas.get_renderer()
    while True:
        legend = figure.legend(handles=handles, loc=location, ncols=columns, frameon=False, fontsize=font_size,
                               labelcolor=palette.text_primary, handlelength=0.8, handletextpad=0.4,
                               columnspacing=LEGEND_PADDING_PX / FONT_PX["legend"], borderaxespad=0.2)
        # Chart.js wraps a legend wider than the chart into rows; fewer columns do the same here.
        if columns == 1 or legend.get_window_extent(renderer).width <= width_px * figure.dpi / CSS_PIXELS_PER_INCH:
            return
        legend.remove()
        columns -= 1


def _skip_crowded_labels(figure, axes, chart_type: str, options: dict) -> None:
    """Thin out the labels of a category axis that do not fit, like Chart.js's autoSkip.

    NOTE: Chart.js first rotates crowded labels by up to 50 degrees (maxRotation) and skips only
    after that; these figures never rotate, they only skip.
    """
    scales = options.get("scales", {})
    horizontal_bars = options.get("indexAxis") == "y"
    name = "y" if horizontal_bars else "x"
    scale_options = scales.get(name, {})
    if chart_type == "scatter" or scale_options.get("type", "category") != "category":
        return
    axis = axes.yaxis if horizontal_bars else axes.xaxis
    positions = list(axis.get_majorticklocs())
    labels = [text.get_text() for text in axis.get_majorticklabels()]
    if len(positions) < 2:
        return
    ticks_options = scale_options.get("ticks", {})

    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    box = axes.get_window_extent(renderer)
    length = box.height if horizontal_bars else box.width
    sizes = [label.get_window_extent(renderer) for label in axis.get_majorticklabels()]
    needed = max((s.height if horizontal_bars else s.width) for s in sizes)
    needed += ticks_options.get("autoSkipPadding", AUTO_SKIP_PADDING_PX) * figure.dpi / CSS_PIXELS_PER_INCH
    step = 1
    if ticks_options.get("autoSkip", True):
        step = max(1, math.ceil(len(positions) * needed / max(length, 1)))
    if "maxTicksLimit" in ticks_options:
        step = max(step, math.ceil(len(positions) / int(ticks_options["maxTicksLimit"])))
    if step > 1:
        axis.set_ticks(positions[::step], labels[::step])


def _place_point_labels(figure, axes, palette: Palette) -> None:
    """Write each {x, y, label} point's label beside it: on the right, or on the left near the right edge."""
    collections = [c for c in axes.collections if getattr(c, "point_labels", None)]
    if not any(text for c in collections for text in c.point_labels):
        return
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    right_edge = axes.get_window_extent(renderer).x1
    for collection in collections:
        gap = _px(getattr(collection, "point_radius_px", 4) or 4) + _px(6)
        for (x, y), text in zip(collection.get_offsets(), collection.point_labels):
            if not text:
                continue
            annotation = axes.annotate(text, (x, y), xytext=(gap, 0), textcoords="offset points", ha="left",
                                       va="center", fontsize=_px(FONT_PX["point_label"]),
                                       color=palette.text_primary, annotation_clip=False)
            if annotation.get_window_extent(renderer).x1 > right_edge:
                annotation.set_horizontalalignment("right")
                annotation.set_position((-gap, 0))


# ==========================================================================
# Writing every chart of every deck
# ==========================================================================


def _rc_settings(family: str) -> dict:
    return {
        "font.family": [family, FALLBACK_FONT],
        "font.size": _px(FONT_PX["ticks"]),
        "lines.scale_dashes": False,
        # Text as paths, so an SVG looks the same without the font installed.
        "svg.fonttype": "path",
        # Fixed element ids, so the same chart gives the same SVG bytes.
        "svg.hashsalt": "livedeck",
        "axes.unicode_minus": False,
    }


def render_figure(spec: ChartSpec, palette: Palette):
    """Draw one chart spec of a deck; errors name the deck and the chart."""
    return draw_chart(spec.config, palette, width=spec.width, height=spec.height, where=spec.where)


def write_figures(project: Project, decks: list[str] | None = None) -> list[Path]:
    """Write every chart of every deck as `build/figures/<deck>/<chart-id>.png` (300 dpi) and `.svg`.

    Returns the written paths. Figures of charts a deck no longer has are deleted.
    """
    import matplotlib

    from .render import render_deck

    palette = read_palette(project.theme / THEME_CSS)
    family = register_fonts(project, palette)
    written = []
    for deck in decks or project.decks():
        markdown, _ = render_deck(project, deck)
        specs = read_chart_specs(markdown, deck)
        folder = project.build / "figures" / deck
        paths = []
        with matplotlib.rc_context(_rc_settings(family)):
            for spec in specs:
                paths += _write_chart(folder, spec, palette)
        for stale in set(folder.glob("*.png")) | set(folder.glob("*.svg")):
            if stale not in paths:
                stale.unlink()
                log.debug("deleted %s: deck %s has no chart %s", project.relative(stale), deck, stale.stem)
        log.info("wrote %d figures of deck %s to %s", len(specs), deck, project.relative(folder))
        written += paths
    return written


def _write_chart(folder: Path, spec: ChartSpec, palette: Palette) -> list[Path]:
    figure = render_figure(spec, palette)
    paths = []
    # Without a Software or Date entry, the same chart gives the same bytes on every run.
    for suffix, metadata in ((".png", {"Software": None}), (".svg", {"Date": None, "Creator": None})):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:], dpi=DPI, facecolor=figure.get_facecolor(), metadata=metadata)
        path = folder / f"{spec.chart_id}{suffix}"
        write_bytes_atomic(path, buffer.getvalue())
        paths.append(path)
    return paths

