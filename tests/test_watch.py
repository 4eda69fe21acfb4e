"""Live preview and many decks: what an edit rebuilds, the served page, errors in the overlay."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from livedeck.build import build
from livedeck.errors import LivedeckError
from livedeck.starter import new_deck

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

EXPERIMENT = '''
from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    n: int = 4


QUICK = Params(n=2)
SEED = 0
SCHEMA = {"type": "object", "properties": {"xs": {"type": "array"}, "ys": {"type": "array"}}, "required": ["xs", "ys"]}
SAME_LENGTH = [("xs", "ys")]


def run(params, *, device="cpu", progress=None):
    return {"xs": list(range(params.n)), "ys": [i * i for i in range(params.n)]}
'''

FRONT = "---\nmarp: true\ntheme: livedeck\n---\n\n"
USES = FRONT + (
    "# Squares\n\n"
    "{{ chart('squares', 'line', labels=results.squares.xs, datasets=[dataset('y', results.squares.ys)], label='Squares') }}\n"
)
OTHER = FRONT + "# Text only\n\nNo experiment here.\n"


@pytest.fixture
def decks(scratch):
    """A scratch project with the experiment `squares`, a deck that charts it and one that does not."""
    (scratch.experiments / "squares.py").write_text(EXPERIMENT)
    (scratch.slides / "uses.md.j2").write_text(USES)
    (scratch.slides / "other.md.j2").write_text(OTHER)
    return scratch


def actions(reports):
    return {report.name: report.action for report in reports}


def test_experiment_edit_rebuilds_users_only(decks):
    build(decks, formats=("html",))
    decks.params.write_text("squares:\n  n: 6\n")

    decisions, reports = build(decks, formats=("html",))

    assert [(name, decision) for name, decision, _ in decisions] == [("squares", "re-ran: parameters changed")]
    assert actions(reports) == {"other": "up to date", "uses": "built"}


def test_parallel_build_output_identical(decks):
    _, reports = build(decks, formats=("html",), jobs=2)
    assert actions(reports) == {"other": "built", "uses": "built"}
    first = {deck: (decks.build / f"{deck}.html").read_bytes() for deck in ("other", "uses")}

    build(decks, formats=("html",), force=True, jobs=1)

    assert {deck: (decks.build / f"{deck}.html").read_bytes() for deck in ("other", "uses")} == first


def test_new_deck_builds(scratch):
    path = new_deck(scratch, "intro-lecture", title="Intro: part 1")
    _, reports = build(scratch, ["intro-lecture"], formats=("html",))
    assert path.name == "intro-lecture.md.j2"
    assert actions(reports) == {"intro-lecture": "built"}
    assert "Intro: part 1" in (scratch.build / "intro-lecture.html").read_text()


def test_new_deck_rejects_bad_or_taken_names(scratch):
    with pytest.raises(LivedeckError, match="lowercase"):
        new_deck(scratch, "My Deck")
    new_deck(scratch, "taken")
    with pytest.raises(LivedeckError, match="already exists"):
        new_deck(scratch, "taken")


# -----------------------------------------------------------------------------
# The watcher, as a process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Watcher:
    """`livedeck watch` running in a project, with its output collected line by line."""

    def __init__(self, project, port):
        environment = {**os.environ, "PYTHONPATH": str(SCRIPTS), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livedeck", "watch", "--port", str(port)],
            cwd=project.root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.base = None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("serving http://"):
                self.base = line.split()[1]
                break
        assert self.base, "".join(self.lines)
        # The rest of the output is collected by a thread, so a test can read it at any time.
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def _collect(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path.lstrip("/"), timeout=30) as response:
            return response.read().decode("utf-8")

    def state(self, since: int) -> dict:
        return json.loads(self.get(f"__livedeck/events?since={since}"))

    def wait_for(self, condition, timeout=60.0) -> dict:
        """Long-poll until the build state satisfies `condition`; return that state."""
        deadline = time.monotonic() + timeout
        state = self.state(-1)
        while not condition(state):
            assert time.monotonic() < deadline, f"timed out; last state {state}\n{self.output()}"
            state = self.state(state["version"])
        return state

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.reader.join(timeout=5)


@pytest.fixture
def watcher(decks):
    running = Watcher(decks, free_port())
    yield running
    running.stop()


def test_watcher_rebuilds_and_recovers(decks, watcher):
    first = watcher.wait_for(lambda state: state["version"] >= 1)
    assert "running squares: no results yet" in watcher.output()
    assert "__livedeck/events" in watcher.get("uses.html")

    # Slide text: the page changes and no experiment runs.
    mark = len(watcher.output())
    (decks.slides / "uses.md.j2").write_text(USES.replace("# Squares", "# Squares, edited"))
    second = watcher.wait_for(lambda state: state["version"] > first["version"])
    assert "Squares, edited" in watcher.get("uses.html")
    assert "running squares" not in watcher.output()[mark:]

    # A parameter: only that experiment re-runs, and the chart's data changes.
    mark = len(watcher.output())
    decks.params.write_text("squares:\n  n: 5\n")
    third = watcher.wait_for(lambda state: state["version"] > second["version"])
    assert "running squares: parameters changed" in watcher.output()[mark:]
    assert "[0,1,4,9,16]" in watcher.get("uses.html")

    # A broken template: the error names the file and line, the last good page stays served.
    (decks.slides / "uses.md.j2").write_text(USES + "\n{{ results.squares.missing_key }}\n")
    broken = watcher.wait_for(lambda state: state["error"] is not None)
    assert "uses.md.j2 line" in broken["error"]
    assert broken["version"] == third["version"]
    page = watcher.get("uses.html")
    assert "[0,1,4,9,16]" in page
    assert "uses.md.j2 line" in page  # the overlay script carries the error

    # Fixed again: a new version and no error.
    (decks.slides / "uses.md.j2").write_text(USES)
    fixed = watcher.wait_for(lambda state: state["version"] > third["version"])
    assert fixed["error"] is None


def test_watcher_overlay_in_browser(decks, watcher, browser):
    watcher.wait_for(lambda state: state["version"] >= 1)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        page.goto(watcher.base + "uses.html#1")
        page.wait_for_function("document.documentElement.dataset.chartsReady === 'true'")

        (decks.slides / "uses.md.j2").write_text(USES.replace("results.squares.xs", "results.squares.xs("))
        overlay = page.locator("#livedeck-error")
        overlay.wait_for(state="visible", timeout=60_000)
        assert "uses.md.j2" in overlay.inner_text()

        (decks.slides / "uses.md.j2").write_text(USES.replace("# Squares", "# Squares again"))
        page.wait_for_function("document.body && document.body.innerText.includes('Squares again')", timeout=60_000)
        assert not page.locator("#livedeck-error").is_visible()
        assert page.url.endswith("#1")
    finally:
        page.close()


def test_watcher_takes_next_port_when_busy(decks):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        running = Watcher(decks, port)
        try:
            assert f"port {port} is in use; trying {port + 1}" in running.output()
            assert not running.base.endswith(f":{port}/")
        finally:
            running.stop()


def test_watcher_stops_cleanly_on_ctrl_c(decks, watcher):
    watcher.wait_for(lambda state: state["version"] >= 1)
    watcher.stop()
    assert watcher.process.returncode == 0
    assert "stopped: the last good outputs and results are left in place" in watcher.output()
    assert (decks.build / "uses.html").is_file()
