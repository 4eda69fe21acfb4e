"""Render a deck template (`slides/<deck>.md.j2`) into Marp Markdown with results and charts inside.

Jinja runs with undefined names as errors. Templates see:

- `results.<experiment>`: that experiment's data (its provenance as `.provenance`);
- `published`: the cited figures of `experiments/published.yaml`;
- `chart(id, type, ...)` and `dataset(label, data, ...)`: place a Chart.js chart;
- `source(experiment, function)`: the source of a function from an experiment, as a code block;
- filters `pct`, `num`, `thousands`, `billions` and `gigabytes` to print numbers from results in text.
"""

import ast
import html
import json
import os
import re
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml
from markupsafe import Markup, escape

from .errors import LivedeckError
from .experiments import read_results
from .fileio import read_yaml
from .paths import Project
from .tracked import TrackedDict, source_of, track
from .validate import plain_data

CHART_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The project's theme and the themes built into Marp Core.
KNOWN_THEMES = {"livedeck", "default", "gaia", "uncover"}
CHART_TYPES = {"bar", "line", "scatter", "bubble", "pie", "doughnut", "radar", "polarArea"}


@dataclass
class RenderRecord:
    """The record of one render: the experiments it read, and each chart with the template line that placed it."""

    experiments: set[str] = field(default_factory=set)
    charts: dict[str, str] = field(default_factory=dict)


class Results:
    """The `results` template variable: loads `experiments/results/<name>.json` on first use."""

    def __init__(self, project: Project, record: RenderRecord):
        self._project = project
        self._record = record
        self._loaded: dict[str, TrackedDict] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str):
        if name not in self._loaded:
            try:
                document = read_results(self._project, name)
            except LivedeckError as error:
                raise LivedeckError(error.code, f"{_template_location()}: {error.message}") from None
            data = track(document["data"], f"{name}:")
            data.provenance = document["provenance"]
            self._loaded[name] = data
            self._record.experiments.add(name)
        return self._loaded[name]


def load_published(project: Project) -> dict:
    """Read `experiments/published.yaml`; every top-level entry must carry a `source`."""
    path = project.published
    if not path.is_file():
        return {}
    loaded = read_yaml(path, project.relative(path), "invalid-published") or {}
    for key, entry in loaded.items():
        if not isinstance(entry, dict) or not entry.get("source"):
            raise LivedeckError(
                "invalid-published",
                f"{project.relative(path)}: entry {key} has no `source`; every quoted figure needs its paper and table",
            )
    return loaded


def _template_location() -> str:
    """Return `file line N` for the template line that is executing, found on the Python stack."""
    frame = sys._getframe(1)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(frame.f_lineno)
            # Relative to the folder the tool runs in (the project root under make), like other messages.
            relative = os.path.relpath(template.filename)
            name = template.filename if relative.startswith("..") else relative
            return f"{name} line {line}"
        frame = frame.f_back
    return "unknown place"


def _json_for_script(value) -> str:
    """Serialise `value` as one line of JSON that cannot close or open an HTML element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class ChartMacros:
    """The `chart` and `dataset` template functions of one render."""

    def __init__(self, project: Project, record: RenderRecord):
        self.project = project
        self.record = record

    def dataset(self, label, data, **options):
        """Return one Chart.js dataset; extra keywords (type, fill, borderDash, yAxisID...) pass through."""
        entry = {"label": str(label), "data": data, **options}
        return entry

    def chart(self, chart_id, chart_type, *, datasets, labels=None, label, caption=None,
              options=None, width=1080, height=430, whatif=None):
        where = _template_location()
        if not isinstance(chart_id, str) or not CHART_ID.match(chart_id):
            raise LivedeckError("invalid-chart", f"{where}: chart id {chart_id!r} must be lowercase letters, digits and dashes")
        if chart_id in self.record.charts:
            raise LivedeckError(
                "duplicate-chart",
                f"chart id {chart_id!r} is used twice: at {self.record.charts[chart_id]} and at {where}; give each chart its own id",
            )
        if chart_type not in CHART_TYPES:
            raise LivedeckError(
                "invalid-chart", f"{where}: chart {chart_id} has unknown type {chart_type!r}; use one of {', '.join(sorted(CHART_TYPES))}"
            )
        if not label or not str(label).strip():
            raise LivedeckError("invalid-chart", f"{where}: chart {chart_id} needs a `label` describing it for screen readers")
        self.record.charts[chart_id] = where

        sources = {
            "labels": source_of(labels),
            "datasets": [source_of(entry.get("data")) for entry in datasets],
        }
        spec = {
            "type": chart_type,
            "data": {"labels": plain_data(labels) if labels is not None else None, "datasets": plain_data(datasets)},
            "options": plain_data(options or {}),
        }
        if spec["data"]["labels"] is None:
            del spec["data"]["labels"]

        attribute = html.escape
        caption_html = f"<figcaption>{html.escape(str(caption))}</figcaption>" if caption else ""
        return Markup(
            f'<figure class="ld-chart" data-chart-id="{chart_id}" style="width:{int(width)}px">'
            f'<canvas id="chart-{chart_id}" width="{int(width)}" height="{int(height)}" '
            f'style="width:{int(width)}px;height:{int(height)}px" role="img" aria-label="{attribute(str(label))}" '
            f'aria-describedby="chart-{chart_id}-data"></canvas>'
            f'<script type="application/json" class="ld-chart-spec" data-chart-id="{chart_id}" '
            f'data-sources="{attribute(json.dumps(sources))}">{_json_for_script(spec)}</script>'
            f"{data_table(chart_id, str(label), spec['data'])}{caption_html}</figure>"
            + (whatif_form(chart_id, whatif, where) if whatif else "")
        )


WHATIF_FORMULAS = ("speculative", "kvCache", "weightMemory", "router")  # the functions theme/what-if.js defines


def whatif_form(chart_id: str, whatif: dict, where: str) -> str:
    """Return the controls that recompute a chart in the page: sliders, selects and text boxes.

    `whatif` is {"formula": name, "fixed": inputs that do not change, "controls": [...]}; each
    control is {"name", "label", "type": "range" | "select" | "text", "value", and for a range
    "min", "max", "step", for a select "options": [[value, text], ...]}.
    """
    formula = whatif.get("formula")
    if formula not in WHATIF_FORMULAS:
        raise LivedeckError(
            "invalid-chart", f"{where}: chart {chart_id} names what-if formula {formula!r}; use one of {', '.join(WHATIF_FORMULAS)}"
        )
    fields = []
    for control in whatif.get("controls", []):
        name, kind = control["name"], control.get("type", "range")
        element_id = f"chart-{chart_id}-{name}"
        text = html.escape(str(control["label"]))
        value = html.escape(str(control["value"]))
        if kind == "range":
            fields.append(
                f'<label for="{element_id}">{text}</label><input type="range" id="{element_id}" name="{name}" '
                f'min="{control["min"]}" max="{control["max"]}" step="{control["step"]}" value="{value}">'
                f'<output for="{element_id}">{value}</output>'
            )
        elif kind == "select":
            options = "".join(
                f'<option value="{html.escape(str(option_value))}"{" selected" if str(option_value) == str(control["value"]) else ""}>'
                f"{html.escape(str(option_text))}</option>"
                for option_value, option_text in control["options"]
            )
            fields.append(f'<label for="{element_id}">{text}</label><select id="{element_id}" name="{name}">{options}</select>')
        elif kind == "text":
            fields.append(
                f'<label for="{element_id}">{text}</label><input type="text" id="{element_id}" name="{name}" '
                f'value="{value}" size="8" maxlength="2000" autocomplete="off" spellcheck="false">'
            )
        else:
            raise LivedeckError("invalid-chart", f"{where}: chart {chart_id}: control {name} has unknown type {kind!r}; use range, select or text")
    settings = html.escape(json.dumps({"formula": formula, "fixed": plain_data(whatif.get("fixed", {}))}))
    return (
        f'<form class="ld-whatif" data-chart-id="{chart_id}" data-whatif="{settings}" '
        f'aria-label="What if: change the inputs of the chart">'
        f'<div class="ld-whatif-fields">{"".join(fields)}</div>'
        f'<p class="ld-whatif-message" role="alert"></p><p class="ld-whatif-summary" aria-live="polite"></p></form>'
    )


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def data_table(chart_id: str, label: str, data: dict) -> str:
    """Return the chart's data as an HTML table for screen readers, one row per label or point.

    Category charts get a column per dataset; point charts (scatter) get the dataset, x, y and
    the point's own label.
    """
    datasets = data["datasets"]
    point_data = any(isinstance(item, dict) for dataset in datasets for item in dataset.get("data", []))
    if point_data:
        head = "<tr><th>series</th><th>x</th><th>y</th><th>point</th></tr>"
        rows = [
            f"<tr><th>{html.escape(dataset['label'])}</th><td>{_cell(point.get('x'))}</td>"
            f"<td>{_cell(point.get('y'))}</td><td>{html.escape(str(point.get('label', '')))}</td></tr>"
            for dataset in datasets
            for point in dataset["data"]
        ]
    else:
        labels = data.get("labels") or list(range(1, max((len(d["data"]) for d in datasets), default=0) + 1))
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(d['label'])}</th>" for d in datasets) + "</tr>"
        rows = []
        for index, row_label in enumerate(labels):
            cells = "".join(
                f"<td>{_cell(d['data'][index]) if index < len(d['data']) and d['data'][index] is not None else ''}</td>"
                for d in datasets
            )
            rows.append(f"<tr><th>{_cell(row_label)}</th>{cells}</tr>")
    # A table grows to fit its cells whatever its width, so a 1-pixel clipping box wraps it.
    return (
        f'<div class="ld-chart-data" id="chart-{chart_id}-data"><table>'
        f"<caption>Data of the chart: {html.escape(label)}</caption>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def extract_source(project: Project, experiment: str, qualified_name: str) -> str:
    """Return the source text of a function or class (`name` or `Class.method`) in an experiment module."""
    path = project.experiments / f"{experiment}.py"
    if not path.is_file():
        raise LivedeckError("unknown-experiment", f"source(): experiment {experiment} not found at {project.relative(path)}")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    body = tree.body
    node = None
    for part in qualified_name.split("."):
        node = next(
            (n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == part),
            None,
        )
        if node is None:
            available = sorted(
                n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            )
            raise LivedeckError(
                "unknown-function",
                f"source(): {qualified_name} not found in {project.relative(path)}; it defines: {', '.join(available)}",
            )
        body = node.body
    lines = text.splitlines()
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    return textwrap.dedent("\n".join(lines[start : node.end_lineno]))


def format_percent(value, digits: int = 1) -> str:
    return f"{float(value) * 100:.{digits}f}%"


def format_number(value, digits: int = 2) -> str:
    return f"{float(value):.{digits}f}"


def format_thousands(value) -> str:
    return f"{int(round(float(value))):,}"


def format_billions(value, digits: int = 1) -> str:
    """Format a count in billions, as parameter counts are usually given: 46702792704 -> 46.7B."""
    return f"{float(value) / 1e9:.{digits}f}B"


def format_gigabytes(value, digits: int = 1) -> str:
    """Format a byte count in gigabytes of 10^9 bytes: 2147483648 -> 2.1 GB."""
    return f"{float(value) / 1e9:.{digits}f} GB"


class DeckEnvironment(jinja2.Environment):
    """Jinja where `a.b` on a dict reads the key `b` first, so result keys like `values` or `items`
    mean the data, not the dict method of that name."""

    def getattr(self, obj, attribute):
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def escape_output(value):
    """Escape text printed into a slide, so a results string like `<script>` shows as text.

    Macro output (charts, code blocks) is Markup and passes through unchanged.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape(value)
    return value


def make_environment(project: Project) -> jinja2.Environment:
    environment = DeckEnvironment(
        finalize=escape_output,
        loader=jinja2.FileSystemLoader(str(project.slides)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    environment.filters["pct"] = format_percent
    environment.filters["num"] = format_number
    environment.filters["thousands"] = format_thousands
    environment.filters["billions"] = format_billions
    environment.filters["gigabytes"] = format_gigabytes
    return environment


def _render_error(project: Project, template_name: str, error: Exception) -> LivedeckError:
    """Turn a Jinja exception into a message naming the template file and line."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        file = project.relative(Path(error.filename)) if error.filename else f"slides/{template_name}"
        return LivedeckError("template-error", f"{file} line {error.lineno}: invalid template syntax: {error.message}")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(".j2")]
    if frames:
        place = f"{project.relative(Path(frames[-1].filename))} line {frames[-1].lineno}"
    else:
        place = f"slides/{template_name}"
    if isinstance(error, jinja2.UndefinedError):
        message = re.sub(r"'livedeck\.tracked\.Tracked(Dict|List) object'", "the results data", error.message or "")
        return LivedeckError(
            "undefined-name", f"{place}: {message}. Check the spelling, or the keys the results file provides."
        )
    return LivedeckError("template-error", f"{place}: {type(error).__name__}: {error}")


def check_front_matter(project: Project, template_path: Path, markdown: str) -> None:
    """Parse the Marp front matter so a YAML mistake is reported with file and line, not ignored by Marp."""
    if not markdown.startswith("---\n"):
        return
    end = markdown.find("\n---", 4)
    if end < 0:
        raise LivedeckError(
            "invalid-front-matter", f"{project.relative(template_path)} line 1: front matter starts with --- but never ends"
        )
    try:
        front = yaml.safe_load(markdown[4:end]) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise LivedeckError(
            "invalid-front-matter",
            f"{project.relative(template_path)} line {line}: invalid front matter YAML: {getattr(error, 'problem', error)}",
        ) from None
    theme = front.get("theme") if isinstance(front, dict) else None
    if theme is not None and theme not in KNOWN_THEMES:
        raise LivedeckError(
            "invalid-front-matter",
            f"{project.relative(template_path)}: front matter sets theme {theme!r}, which does not exist; "
            f"use one of: {', '.join(sorted(KNOWN_THEMES))}",
        )


def describe_run(results: "Results", name: str) -> str:
    """Return one line for speaker notes on how an experiment's results were made.

    It names the experiment, its seed, device, start time, duration and every parameter, so a
    lecturer can tell where a number comes from without opening the results file.
    """
    provenance = results[name].provenance
    started = str(provenance.get("started_at", "unknown time")).replace("T", " ")[:16]
    parameters = ", ".join(f"{key}={_plain_text(value)}" for key, value in provenance.get("params", {}).items())
    return (
        f"Run: experiment {name}, seed {provenance.get('seed')}, on {provenance.get('device')}, "
        f"started {started} UTC, took {provenance.get('duration_s', 0):.1f} s. Parameters: {parameters}."
    )


def _plain_text(value) -> str:
    """Format a parameter value without quotes, so the note reads the same in every viewer."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_plain_text(item)}" for key, item in value.items()) + "}"
    return str(value)


def render_deck(project: Project, deck: str) -> tuple[str, RenderRecord]:
    """Render `slides/<deck>.md.j2` to Marp Markdown; return it with what the render used."""
    template_name = f"{deck}.md.j2"
    template_path = project.slides / template_name
    record = RenderRecord()
    macros = ChartMacros(project, record)
    environment = make_environment(project)
    published = load_published(project)

    results = Results(project, record)
    context = {
        "deck": deck,
        "results": results,
        "run_note": lambda name: describe_run(results, name),
        "published": track(published, "published:"),
        "chart": macros.chart,
        "dataset": macros.dataset,
        "source": lambda experiment, name: Markup("```python\n" + extract_source(project, experiment, name) + "\n```"),
    }
    try:
        template = environment.get_template(template_name)
        markdown = template.render(context)
    except LivedeckError:
        raise
    except jinja2.TemplateNotFound as error:
        raise LivedeckError("template-error", f"template {error.name} not found in {project.relative(project.slides)}") from None
    except Exception as error:
        raise _render_error(project, template_name, error) from None

    check_front_matter(project, template_path, markdown)
    return markdown, record
