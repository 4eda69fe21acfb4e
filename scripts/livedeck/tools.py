"""Find the external programs a build needs (Node.js, Marp CLI, Chromium) and run Marp.

Each lookup failure is a LivedeckError that names the program and the command that installs it.
"""

import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

from .errors import LivedeckError
from .paths import Project

log = logging.getLogger("livedeck.tools")

CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
)

# Unless these flags disable it, Chromium contacts Google services in the background. On a machine
# without a network those attempts only add noise and delay.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
)


def find_chromium() -> str:
    """Return the path of a Chromium: $CHROME_PATH, the usual system paths, or Playwright's cache."""
    configured = os.environ.get("CHROME_PATH")
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            log.debug("using Chromium from CHROME_PATH: %s", configured)
            return configured
        raise LivedeckError(
            "missing-chromium",
            f"CHROME_PATH is set to {configured}, which is not an executable file; fix it or unset it",
        )
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            log.debug("using Chromium at %s", candidate)
            return candidate
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright"))
    for candidate in sorted(cache.glob("chromium-*/chrome-linux*/chrome"), reverse=True):
        log.debug("using Playwright's Chromium at %s", candidate)
        return str(candidate)
    raise LivedeckError(
        "missing-chromium",
        "Chromium not found (looked at CHROME_PATH, " + ", ".join(CHROMIUM_CANDIDATES) + " and Playwright's cache). "
        "Install it with `sudo apt-get install chromium` (Debian/Ubuntu), or set CHROME_PATH to a Chrome or Chromium binary.",
    )


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise LivedeckError(
            "missing-node",
            "Node.js not found on PATH; install Node.js 18 or newer (`sudo apt-get install nodejs npm`), then run `npm ci`",
        )
    return node


def marp_command(project: Project) -> list[str]:
    """Return the command that starts the Marp CLI installed by `npm ci` (the one npx would run)."""
    node = find_node()
    cli = project.node_modules / "@marp-team" / "marp-cli" / "marp-cli.js"
    if not cli.is_file():
        raise LivedeckError(
            "missing-marp",
            f"Marp CLI not found at {project.relative(cli)}; run `npm ci` in {project.root} to install it",
        )
    return [node, str(cli)]


def run_marp(project: Project, args: list[str], *, env: dict[str, str], output_name: str) -> None:
    """Run Marp CLI with `args`; a failure raises an error with Marp's own message."""
    command = marp_command(project) + args
    log.debug("running %s", " ".join(command))
    process = subprocess.Popen(
        command, cwd=project.root, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate()
    except BaseException:
        # Ctrl-C or another failure: stop Marp (and the browser it started) before leaving.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if process.returncode != 0:
        output = "\n".join(line for line in (stderr + stdout).splitlines() if line.strip())
        raise LivedeckError("marp-failed", f"Marp CLI failed while writing {output_name} (exit code {process.returncode}):\n{output}")
