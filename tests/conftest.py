"""Shared fixtures: the project, a scratch copy of it, one Chromium for all browser tests, built decks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from livedeck.paths import Project
from livedeck.tools import CHROMIUM_ARGS, find_chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts"


@pytest.fixture(scope="session")
def project() -> Project:
    return Project(ROOT)


@pytest.fixture
def scratch(tmp_path) -> Project:
    """Return a new project in a temporary folder sharing this one's theme, engine and node_modules.

    Tests add their own slides and experiments to it, so nothing they do touches the real project.
    """
    root = tmp_path / "project"
    (root / "slides").mkdir(parents=True)
    (root / "experiments" / "results").mkdir(parents=True)
    (root / "experiments" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text("")
    shutil.copytree(ROOT / "theme", root / "theme")
    (root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "marp-engine.mjs", root / "scripts" / "marp-engine.mjs")
    (root / "node_modules").symlink_to(ROOT / "node_modules")
    shutil.copy(ROOT / "package-lock.json", root / "package-lock.json")
    return Project(root)


def run_tool(project: Project, *args: str, env=None, check=True) -> subprocess.CompletedProcess:
    """Run `python -m livedeck ARGS` in `project`'s folder, as a user would from the Makefile."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "scripts"), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "livedeck", *args], cwd=project.root, env=environment, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"livedeck {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}")
    return result


@pytest.fixture(scope="session")
def built_decks(project) -> list[str]:
    """Build every deck of the project from its committed results, once per test session."""
    run_tool(project, "build", "--no-experiments")
    return project.decks()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        yield instance
        instance.close()


class PageWatch:
    """Console errors, page errors, dialogs and every request a page tried that left the file system."""

    def __init__(self, page, allowed_files: set[str] | None = None):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.network: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

        def route(request_route):
            url = request_route.request.url
            if url.startswith("data:") or (url.startswith("file://") and (allowed_files is None or url in allowed_files)):
                request_route.continue_()
            else:
                self.network.append(url)
                request_route.abort()

        page.route("**/*", route)


@pytest.fixture
def open_deck(browser, request):
    """Open an HTML file in a fresh 1280x720 page that records errors and blocks every network request."""
    contexts = []

    def opener(path: Path, *, only_this_file=False):
        context = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        watch = PageWatch(page, {path.resolve().as_uri()} if only_this_file else None)
        page.goto(path.resolve().as_uri())
        page.wait_for_function("document.documentElement.dataset.chartsReady === 'true'", timeout=20_000)
        return page, watch

    yield opener
    for context in contexts:
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(context.pages):
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{index}.png"))
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
