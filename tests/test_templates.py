"""Deck templates: errors name the template file and line, labels cannot inject markup, code comes from source."""

import json
import re

import pytest

from livedeck.errors import LivedeckError
from livedeck.render import extract_source, render_deck

FRONT = "---\nmarp: true\ntheme: livedeck\n---\n\n"

RESULTS = {
    "experiment": "demo",
    "data": {"names": ["a", "b"], "values": [1.5, 2.5], "share": 0.125},
    "provenance": {"inputs": {}},
}


@pytest.fixture
def deck(scratch):
    (scratch.results / "demo.json").write_text(json.dumps(RESULTS))

    def write(body: str, name: str = "talk") -> str:
        (scratch.slides / f"{name}.md.j2").write_text(FRONT + body)
        return name

    write.project = scratch
    return write


def test_undefined_name_gives_file_and_line(deck):
    name = deck("# Title\n\nSome text\n\n{{ results.demo.missing_key }}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert caught.value.code == "undefined-name"
    assert "slides/talk.md.j2 line 10" in caught.value.message
    assert "missing_key" in caught.value.message


def test_undefined_variable_gives_file_and_line(deck):
    name = deck("# Title\n\n{{ reslts.demo }}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert "slides/talk.md.j2 line 8" in caught.value.message
    assert "reslts" in caught.value.message


def test_syntax_error_gives_file_and_line(deck):
    name = deck("# Title\n\n{% for x in results.demo.names %}\n{{ x }}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert caught.value.code == "template-error"
    assert "slides/talk.md.j2 line" in caught.value.message


def test_missing_results_names_the_experiment(deck):
    (deck.project.experiments / "nothing.py").write_text("def run(params, *, device='cpu', progress=None):\n    return {}\n")
    name = deck("{{ results.nothing.values }}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert caught.value.code == "missing-results"
    assert "experiment nothing" in caught.value.message
    assert "talk.md.j2 line 6" in caught.value.message


def test_unknown_experiment_lists_known_ones(deck):
    name = deck("{{ results.demo_typo.values }}\n")
    (deck.project.experiments / "demo.py").write_text("def run(params, *, device='cpu', progress=None):\n    return {}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert caught.value.code == "unknown-experiment"
    assert "known experiments: demo" in caught.value.message
    assert "talk.md.j2 line 6" in caught.value.message


def test_invalid_front_matter_gives_line(scratch):
    (scratch.slides / "talk.md.j2").write_text("---\nmarp: true\ntheme: [livedeck\n---\n\n# Title\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(scratch, "talk")
    assert caught.value.code == "invalid-front-matter"
    assert "slides/talk.md.j2 line" in caught.value.message


HOSTILE = "</script><script>alert(1)</script><b>bold</b>"


def test_hostile_label_stays_inside_json(deck):
    name = deck(
        f"{{% set hostile = {HOSTILE!r} %}}"
        "{{ chart('values', 'bar', labels=results.demo.names, "
        "datasets=[dataset(hostile, results.demo.values)], label=hostile, caption=hostile) }}\n"
    )
    markdown, _ = render_deck(deck.project, name)
    assert markdown.count("<script") == 1, "a label opened a script element"
    assert markdown.count("</script>") == 1, "a label closed the script element"
    assert "<b>" not in markdown
    spec = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', markdown).group(1)
    assert json.loads(spec)["data"]["datasets"][0]["label"] == HOSTILE


def test_chart_records_its_sources(deck):
    name = deck("{{ chart('values', 'line', labels=results.demo.names, datasets=[dataset('v', results.demo.values)], label='Values') }}\n")
    markdown, record = render_deck(deck.project, name)
    sources = json.loads(re.search(r'data-sources="([^"]*)"', markdown).group(1).replace("&quot;", '"'))
    assert sources == {"labels": "demo:names", "datasets": ["demo:values"]}
    assert record.experiments == {"demo"}


def _sources(markdown):
    return json.loads(re.search(r'data-sources="([^"]*)"', markdown).group(1).replace("&quot;", '"'))


def test_point_data_records_both_coordinates(deck):
    name = deck(
        "{{ chart('points', 'scatter', datasets=[dataset('p', [{'x': results.demo.share, 'y': results.demo.values[1]}])], label='Points') }}\n"
    )
    markdown, _ = render_deck(deck.project, name)
    assert _sources(markdown)["datasets"] == [[{"x": "demo:share", "y": "demo:values[1]"}]]


def test_computed_values_have_no_source(deck):
    # Arithmetic in a template makes new numbers; the deck check then rejects the chart.
    name = deck(
        "{{ chart('points', 'scatter', datasets=[dataset('p', [{'x': results.demo.share * 2, 'y': results.demo.share}])], label='Points') }}\n"
    )
    markdown, _ = render_deck(deck.project, name)
    assert _sources(markdown)["datasets"] == [None]


def test_duplicate_chart_ids_name_both_places(deck):
    line = "{{ chart('values', 'bar', datasets=[dataset('v', results.demo.values)], label='Values') }}\n"
    name = deck(line + "\n---\n\n" + line)
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert caught.value.code == "duplicate-chart"
    assert "slides/talk.md.j2 line 6" in caught.value.message
    assert "slides/talk.md.j2 line 10" in caught.value.message


def test_unknown_chart_type_is_named(deck):
    name = deck("{{ chart('values', 'pyramid', datasets=[dataset('v', results.demo.values)], label='Values') }}\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(deck.project, name)
    assert "pyramid" in caught.value.message
    assert "slides/talk.md.j2 line 6" in caught.value.message


def test_number_filters(deck):
    name = deck("{{ results.demo.share | pct }} {{ results.demo.values[0] | num(1) }} {{ 1234567 | thousands }}\n")
    markdown, _ = render_deck(deck.project, name)
    assert "12.5% 1.5 1,234,567" in markdown


def test_size_filters(deck):
    name = deck("{{ 46702792704 | billions }} {{ 2147483648 | gigabytes }}\n")
    markdown, _ = render_deck(deck.project, name)
    assert "46.7B 2.1 GB" in markdown


def test_source_is_the_function_as_written(scratch):
    (scratch.experiments / "demo.py").write_text(
        "import math\n\n\ndef helper(x):\n    return x\n\n\nclass Box:\n    @staticmethod\n    def area(w, h):\n        return w * h  # square units\n"
    )
    assert extract_source(scratch, "demo", "helper") == "def helper(x):\n    return x"
    assert extract_source(scratch, "demo", "Box.area") == "@staticmethod\ndef area(w, h):\n    return w * h  # square units"
    with pytest.raises(LivedeckError) as caught:
        extract_source(scratch, "demo", "missing")
    assert "Box, helper" in caught.value.message


def test_results_text_is_escaped(deck):
    results = {**RESULTS, "data": {**RESULTS["data"], "token": "<img src=x onerror=alert(1)>"}}
    (deck.project.results / "demo.json").write_text(json.dumps(results))
    name = deck("Token: {{ results.demo.token }}\n")
    markdown, _ = render_deck(deck.project, name)
    assert "<img" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown


def test_unknown_theme_is_named(scratch):
    (scratch.slides / "talk.md.j2").write_text("---\nmarp: true\ntheme: livedek\n---\n\n# Title\n")
    with pytest.raises(LivedeckError) as caught:
        render_deck(scratch, "talk")
    assert "livedek" in caught.value.message
    assert "livedeck" in caught.value.message
