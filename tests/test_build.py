"""Whole builds of small scratch decks: outputs, incremental rebuilds, and failures that lose nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_tool
from livedeck import tools
from livedeck.errors import LivedeckError

DECK = """---
marp: true
theme: livedeck
---

# {{ results.demo.title }}

{{ chart("values", "bar", labels=results.demo.names, datasets=[dataset(results.demo.series, results.demo.values)], label=results.demo.series) }}
"""

RESULTS = {"title": "Scratch deck", "names": ["a", "b", "c"], "values": [1.0, 3.0, 2.0], "series": "values"}


def write_results(project, **changes) -> None:
    document = {"experiment": "demo", "data": {**RESULTS, **changes}, "provenance": {"inputs": {}}}
    (project.results / "demo.json").write_text(json.dumps(document))


@pytest.fixture
def small(scratch):
    write_results(scratch)
    (scratch.slides / "talk.md.j2").write_text(DECK)
    return scratch


def test_build_writes_html_and_pdf(small):
    result = run_tool(small, "build")
    assert (small.build / "talk.html").stat().st_size > 100_000
    assert (small.build / "talk.pdf").read_bytes().startswith(b"%PDF")
    assert "deck       talk" in result.stdout
    assert "1 charts" in result.stdout


def test_unchanged_deck_is_not_rebuilt(small):
    run_tool(small, "build", "--no-pdf")
    before = (small.build / "talk.html").stat().st_mtime_ns
    result = run_tool(small, "build", "--no-pdf")
    assert "talk                   up to date" in result.stdout
    assert (small.build / "talk.html").stat().st_mtime_ns == before


def test_results_change_rebuilds_deck(small):
    run_tool(small, "build", "--no-pdf")
    write_results(small, title="Changed title")
    result = run_tool(small, "build", "--no-pdf")
    assert "building deck talk" in result.stderr
    assert "Changed title" in (small.build / "talk.html").read_text()


def test_hostile_label_is_shown_as_text(small, open_deck):
    hostile = "</script><script>alert(1)</script><b>bold</b>"
    write_results(small, series=hostile, names=[hostile, "b", "c"])
    run_tool(small, "build", "--no-pdf")
    page, watch = open_deck(small.build / "talk.html")
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert page.evaluate("Chart.getChart('chart-values').data.datasets[0].label") == hostile
    assert page.evaluate("Chart.getChart('chart-values').data.labels[0]") == hostile
    assert page.evaluate("document.querySelectorAll('section b').length") == 0
    assert page.evaluate("document.getElementById('chart-values').getAttribute('aria-label')") == hostile


def test_template_error_keeps_previous_outputs(small):
    run_tool(small, "build", "--no-pdf")
    before = (small.build / "talk.html").read_bytes()
    (small.slides / "talk.md.j2").write_text(DECK.replace("results.demo.title", "results.demo.titel"))
    result = run_tool(small, "build", "--no-pdf", check=False)
    assert result.returncode == 2
    assert "slides/talk.md.j2 line 6" in result.stderr
    assert "titel" in result.stderr
    assert (small.build / "talk.html").read_bytes() == before


def test_missing_node_is_explained(small):
    result = run_tool(small, "build", "--no-pdf", env={"PATH": "/nonexistent"}, check=False)
    assert result.returncode == 2
    assert "Node.js not found" in result.stderr
    assert "apt-get install nodejs npm" in result.stderr


def test_missing_marp_is_explained(small):
    (small.root / "node_modules").unlink()
    (small.root / "node_modules" / "@marp-team" / "marp-cli").mkdir(parents=True)
    for package in ("chart.js", "@fontsource"):
        os.symlink(ROOT / "node_modules" / package, small.root / "node_modules" / package)
    result = run_tool(small, "build", "--no-pdf", check=False)
    assert result.returncode == 2
    assert "Marp CLI not found" in result.stderr
    assert "npm ci" in result.stderr


def test_missing_chromium_is_explained(monkeypatch, tmp_path):
    monkeypatch.delenv("CHROME_PATH", raising=False)
    monkeypatch.setattr(tools, "CHROMIUM_CANDIDATES", (str(tmp_path / "no-chromium"),))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    with pytest.raises(LivedeckError) as caught:
        tools.find_chromium()
    assert caught.value.code == "missing-chromium"
    assert "sudo apt-get install chromium" in caught.value.message


def test_wrong_chrome_path_is_explained(small):
    result = run_tool(small, "build", env={"CHROME_PATH": "/nonexistent/chrome"}, check=False)
    assert result.returncode == 2
    assert "CHROME_PATH is set to /nonexistent/chrome" in result.stderr


def test_interrupted_build_leaves_no_partial_outputs(small):
    run_tool(small, "build")
    html_before = (small.build / "talk.html").read_bytes()
    pdf_before = (small.build / "talk.pdf").read_bytes()
    write_results(small, title="A title the interrupted build never publishes")

    environment = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    process = subprocess.Popen(
        [sys.executable, "-m", "livedeck", "build"], cwd=small.root, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    # Wait until Marp has started writing, then press Ctrl-C (SIGINT to the whole process group).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(small.build.glob(".talk.*.tmp")):
        time.sleep(0.05)
    assert list(small.build.glob(".talk.*.tmp")), "the build never reached Marp"
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert (small.build / "talk.html").read_bytes() == html_before
    assert (small.build / "talk.pdf").read_bytes() == pdf_before
    assert list(small.build.glob(".*.tmp")) == []


def test_failed_pdf_keeps_both_previous_outputs(small, tmp_path):
    run_tool(small, "build")
    html_before = (small.build / "talk.html").read_bytes()
    pdf_before = (small.build / "talk.pdf").read_bytes()
    write_results(small, title="A title no output may show")
    not_a_browser = tmp_path / "not-a-browser"
    not_a_browser.write_text("#!/bin/sh\nexit 1\n")
    not_a_browser.chmod(0o755)

    result = run_tool(small, "build", env={"CHROME_PATH": str(not_a_browser)}, check=False)
    assert result.returncode == 2
    assert "Marp CLI failed while writing build/talk.pdf" in result.stderr
    assert (small.build / "talk.html").read_bytes() == html_before
    assert (small.build / "talk.pdf").read_bytes() == pdf_before

    rebuilt = run_tool(small, "build")
    assert "built" in rebuilt.stdout
    assert "A title no output may show" in (small.build / "talk.html").read_text()


def test_font_subsets_follow_the_text(project):
    from livedeck.bundle import subsets_for

    assert subsets_for(project, "Plain English text, 100% ASCII…") == ("latin",)
    assert subsets_for(project, "Łukasz") == ("latin", "latin-ext")
    assert subsets_for(project, "attention α") == ("latin", "greek")


def test_deck_with_greek_embeds_greek_font(scratch):
    (scratch.slides / "greek.md.j2").write_text("---\nmarp: true\ntheme: livedeck\n---\n\n# Acceptance rate α\n")
    (scratch.slides / "plain.md.j2").write_text("---\nmarp: true\ntheme: livedeck\n---\n\n# Acceptance rate\n")
    run_tool(scratch, "build", "--no-pdf")
    greek = (scratch.build / "greek.html").read_text(encoding="utf-8")
    plain = (scratch.build / "plain.html").read_text(encoding="utf-8")
    assert "U+0370-0377" in greek
    assert "U+0370-0377" not in plain
    assert len(plain) < len(greek)
