"""What-if controls in the built lecture: the page's formulas replay the experiments' test vectors."""

import json
import math

import pytest

from livedeck.screenshots import show_slide

SLIDE_OF = """
(id) => {
  const slides = [...document.querySelectorAll('svg[data-marpit-svg]')];
  return slides.findIndex((slide) => slide.querySelector(`form.ld-whatif[data-chart-id="${id}"]`)) + 1;
}
"""
DATA_OF = "(id) => Chart.getChart(document.getElementById('chart-' + id)).data.datasets.map((d) => [...d.data])"
ACTIVE = "() => [...document.querySelectorAll('svg[data-marpit-svg]')].indexOf(document.querySelector('svg.bespoke-marp-active')) + 1"


def close(actual, expected) -> bool:
    return math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-9)


@pytest.fixture(scope="module")
def results(project):
    def load(name):
        return json.loads((project.results / f"{name}.json").read_text())["data"]

    return {name: load(name) for name in ("speculative_decoding", "model_sizes")}


@pytest.fixture
def lecture(built_decks, project, open_deck):
    page, watch = open_deck(project.build / "moe-efficiency.html")
    yield page
    assert watch.page_errors == [], watch.page_errors


def go(page, chart_id) -> int:
    """Show the slide with the what-if controls of `chart_id`; return its number."""
    number = page.evaluate(SLIDE_OF, chart_id)
    assert number > 0, f"no what-if form for chart {chart_id}"
    show_slide(page, number)
    return number


def set_range(page, chart_id, name, value):
    page.locator(f"#chart-{chart_id}-{name}").fill(str(value))


def test_speculative_sliders_replay_test_vectors(lecture, results):
    spec = results["speculative_decoding"]
    go(lecture, "spec-whatif")
    checked = 0
    for vector in spec["test_vectors"]:
        if vector["gamma"] not in spec["gammas"]:
            continue
        set_range(lecture, "spec-whatif", "alpha", vector["alpha"])
        set_range(lecture, "spec-whatif", "cost_ratio", vector["cost_ratio"])
        tokens, speedup = lecture.evaluate(DATA_OF, "spec-whatif")
        index = spec["gammas"].index(vector["gamma"])
        assert close(tokens[index], vector["expected_tokens"]), vector
        assert close(speedup[index], vector["speedup"]), vector
        checked += 1
    assert checked >= 4


def test_speculative_formulas_match_every_vector(lecture, results):
    for vector in results["speculative_decoding"]["test_vectors"]:
        tokens, speedup = lecture.evaluate(
            "(v) => [CDLWhatIf.expectedTokens(v.alpha, v.gamma), CDLWhatIf.walltimeSpeedup(v.alpha, v.gamma, v.cost_ratio)]",
            vector,
        )
        assert close(tokens, vector["expected_tokens"]), vector
        assert close(speedup, vector["speedup"]), vector


def test_kv_cache_controls_replay_test_vectors(lecture, results):
    sizes = results["model_sizes"]
    go(lecture, "kv-whatif")
    box = lecture.locator("#chart-kv-whatif-context")
    for vector in sizes["test_vectors"]["kv_cache"]:
        lecture.locator("#chart-kv-whatif-precision").select_option(str(vector["bytes_per_value"]).removesuffix(".0"))
        box.fill(str(vector["context"]))
        box.press("Enter")
        (data,) = lecture.evaluate(DATA_OF, "kv-whatif")
        assert close(data[sizes["order"].index(vector["model"])], vector["gb"]), vector


def test_weight_controls_replay_test_vectors(lecture, results):
    sizes = results["model_sizes"]
    go(lecture, "weights-whatif")
    for vector in sizes["test_vectors"]["weights"]:
        lecture.locator("#chart-weights-whatif-model").select_option(vector["model"])
        lecture.locator("#chart-weights-whatif-bits").select_option(str(vector["bits"]))
        (data,) = lecture.evaluate(DATA_OF, "weights-whatif")
        assert close(data[sizes["order"].index(vector["model"])], vector["gb"]), vector
        summary = lecture.locator('form[data-chart-id="weights-whatif"] .ld-whatif-summary').inner_text()
        label = sizes["labels"][sizes["order"].index(vector["model"])]
        assert summary.startswith(f"{label} at {vector['bits']} bits"), summary


@pytest.mark.parametrize("typed", ["", "x" * 1000, "four thousand", "12 tokens", "-5", "3K4", "∞"])
def test_bad_context_keeps_chart(lecture, typed):
    go(lecture, "kv-whatif")
    before = lecture.evaluate(DATA_OF, "kv-whatif")
    box = lecture.locator("#chart-kv-whatif-context")
    box.fill(typed)
    box.press("Enter")
    message = lecture.locator('form[data-chart-id="kv-whatif"] .ld-whatif-message')
    assert message.is_visible()
    assert "context length" in message.inner_text()
    assert lecture.evaluate(DATA_OF, "kv-whatif") == before

    box.fill("8K")
    box.press("Enter")
    assert not message.is_visible()
    assert lecture.evaluate(DATA_OF, "kv-whatif") != before


def test_too_long_context_is_rejected(lecture):
    go(lecture, "kv-whatif")
    box = lecture.locator("#chart-kv-whatif-context")
    box.fill("2M")
    box.press("Enter")
    assert "at most" in lecture.locator('form[data-chart-id="kv-whatif"] .ld-whatif-message').inner_text()


def test_focused_slider_keeps_arrow_keys(lecture):
    number = go(lecture, "spec-whatif")
    slider = lecture.locator("#chart-spec-whatif-alpha")
    before = float(slider.input_value())

    slider.focus()
    lecture.keyboard.press("ArrowRight")
    assert float(slider.input_value()) == pytest.approx(before + 0.01)
    assert lecture.evaluate(ACTIVE) == number

    lecture.evaluate("document.activeElement.blur()")
    lecture.keyboard.press("ArrowRight")
    lecture.wait_for_function(f"({ACTIVE})() === {number + 1}")


@pytest.fixture(scope="module")
def probe(project):
    return json.loads((project.results / "moe_routing.json").read_text())["data"]["router_probe"]


def test_router_box_replays_vectors(lecture, probe):
    go(lecture, "router-whatif")
    box = lecture.locator("#chart-router-whatif-token")
    summary = lecture.locator('form[data-chart-id="router-whatif"] .ld-whatif-summary')
    for index, character in enumerate(probe["characters"]):
        box.fill(character)
        box.press("Enter")
        (data,) = lecture.evaluate(DATA_OF, "router-whatif")
        expected = probe["expected"][index]
        assert all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) for a, b in zip(data, expected["probs"])), character
        first, second = (f"E{expert + 1}" for expert in expected["chosen"])
        assert f"goes to {first} and {second}, whose outputs are mixed" in summary.inner_text(), character


@pytest.mark.parametrize("typed, expected", [
    ("", "Type one character"),
    ("ab", "type a single character"),
    ("x" * 1000, "type a single character"),
    ("é", "outside the vocabulary"),
    ("\u4e2d", "outside the vocabulary"),
])
def test_router_bad_input_keeps_chart(lecture, typed, expected):
    go(lecture, "router-whatif")
    before = lecture.evaluate(DATA_OF, "router-whatif")
    box = lecture.locator("#chart-router-whatif-token")
    box.fill(typed)
    box.press("Enter")
    message = lecture.locator('form[data-chart-id="router-whatif"] .ld-whatif-message')
    assert message.is_visible()
    assert expected in message.inner_text()
    assert lecture.evaluate(DATA_OF, "router-whatif") == before
