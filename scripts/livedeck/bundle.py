"""The files a deck carries inside it: the theme CSS with its fonts, and the chart runtime script.

Both are built into `build/.cache/` under names that contain a hash of their inputs, so a build
never reads a half-written file from another build and an unchanged input is not rebuilt.
"""

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import LivedeckError
from .fileio import write_text_atomic
from .paths import Project

# Font files bundled into every deck: (fontsource package, weight, style). Subsets cover Latin,
# Latin Extended and Greek (for symbols like alpha in formulas).
FONTS = [
    ("source-sans-3", 400, "normal"),
    ("source-sans-3", 400, "italic"),
    ("source-sans-3", 600, "normal"),
    ("source-sans-3", 700, "normal"),
    ("jetbrains-mono", 400, "normal"),
    ("jetbrains-mono", 600, "normal"),
]
SUBSETS = ("latin", "latin-ext", "greek")

FACE = re.compile(r"/\* (?P<name>[a-z0-9-]+) \*/\s*@font-face\s*\{(?P<body>[^}]*)\}")


@dataclass(frozen=True)
class Bundle:
    """Paths of the built theme CSS and runtime script, and a hash of everything in them."""

    theme_css: Path
    runtime_js: Path
    digest: str


def _require(path: Path, description: str) -> Path:
    if not path.is_file():
        raise LivedeckError(
            "missing-node-modules",
            f"{description} not found at {path}; run `npm ci` in the project folder (or `make setup`) to install it",
        )
    return path


def font_faces(project: Project, subsets=SUBSETS) -> str:
    """Return @font-face rules for `subsets` with the font files inlined as data URLs.

    `font-display: block` keeps text invisible while a font decodes (milliseconds for a data URL)
    instead of drawing it in a fallback font that depends on the machine.
    """
    rules = []
    for package, weight, style in FONTS:
        folder = project.node_modules / "@fontsource" / package
        css_name = f"{weight}{'-italic' if style == 'italic' else ''}.css"
        css = _require(folder / css_name, f"font package @fontsource/{package}").read_text(encoding="utf-8")
        for match in FACE.finditer(css):
            name, body = match.group("name"), match.group("body")
            subset = name[len(package) + 1 :].rsplit("-", 2)[0]
            if subset not in subsets:
                continue
            family = re.search(r"font-family:\s*([^;]+);", body).group(1).strip()
            unicode_range = re.search(r"unicode-range:\s*([^;]+);", body).group(1).strip()
            font_file = _require(folder / "files" / f"{name}.woff2", f"font file {name}.woff2")
            encoded = base64.b64encode(font_file.read_bytes()).decode("ascii")
            rules.append(
                "@font-face{"
                f"font-family:{family};font-style:{style};font-weight:{weight};font-display:block;"
                f"src:url(data:font/woff2;base64,{encoded}) format('woff2');unicode-range:{unicode_range}"
                "}"
            )
    return "\n".join(rules)


def unicode_coverage(project: Project, family_prefix: str = "source-sans-3", subsets=SUBSETS) -> set[int]:
    """Return the code points the body font covers at weight 400 in `subsets` (from the unicode ranges)."""
    covered: set[int] = set()
    for ranges in _subset_ranges(project, family_prefix, subsets).values():
        covered |= ranges
    return covered


def _subset_ranges(project: Project, family_prefix: str, subsets) -> dict[str, set[int]]:
    css = _require(
        project.node_modules / "@fontsource" / family_prefix / "400.css", f"font package @fontsource/{family_prefix}"
    ).read_text(encoding="utf-8")
    found: dict[str, set[int]] = {}
    for match in FACE.finditer(css):
        subset = match.group("name")[len(family_prefix) + 1 :].rsplit("-", 2)[0]
        if subset not in subsets:
            continue
        ranges = re.search(r"unicode-range:\s*([^;]+);", match.group("body")).group(1)
        points = found.setdefault(subset, set())
        for part in ranges.split(","):
            start, _, end = part.strip()[2:].partition("-")
            points.update(range(int(start, 16), int(end or start, 16) + 1))
    return found


def subsets_for(project: Project, text: str) -> tuple[str, ...]:
    """Return the font subsets a deck's text needs: always Latin, and each other subset that has one of its characters.

    Bundling only these keeps a deck in English free of the Greek and extended-Latin font files,
    about a third of the HTML.
    """
    ranges = _subset_ranges(project, "source-sans-3", SUBSETS)
    used = {ord(character) for character in set(text)} - ranges.get("latin", set())
    return tuple(subset for subset in SUBSETS if subset == "latin" or used & ranges.get(subset, set()))


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()


def build_bundle(project: Project, subsets=SUBSETS) -> Bundle:
    """Build (or reuse) the theme CSS with the fonts of `subsets` inlined, and the Chart.js runtime script."""
    theme_source = _require(project.theme / "livedeck.css", "theme file theme/livedeck.css").read_bytes()
    defaults = _require(project.theme / "chart-defaults.js", "chart runtime theme/chart-defaults.js").read_bytes()
    what_if = _require(project.theme / "what-if.js", "what-if controls theme/what-if.js").read_bytes()
    chartjs = _require(project.node_modules / "chart.js" / "dist" / "chart.umd.min.js", "Chart.js").read_bytes()
    lock = project.root / "package-lock.json"
    lock_bytes = lock.read_bytes() if lock.is_file() else b""

    digest = _digest(
        theme_source, defaults, what_if, chartjs, lock_bytes, Path(__file__).read_bytes(), ",".join(subsets).encode()
    )
    cache = project.build / ".cache"
    theme_css = cache / f"theme-{digest[:16]}" / "livedeck.css"
    runtime_js = cache / f"runtime-{digest[:16]}.js"

    if not theme_css.is_file():
        faces = font_faces(project, subsets)
        write_text_atomic(theme_css, theme_source.decode("utf-8") + "\n/* Bundled fonts */\n" + faces + "\n")
    if not runtime_js.is_file():
        # Chart.js first, then the defaults, which register themselves with the Chart global it
        # defines, then the what-if controls, which redraw the charts the defaults made.
        runtime = chartjs.decode("utf-8") + "\n;\n" + defaults.decode("utf-8") + "\n;\n" + what_if.decode("utf-8") + "\n"
        write_text_atomic(runtime_js, runtime)
    return Bundle(theme_css, runtime_js, digest)
