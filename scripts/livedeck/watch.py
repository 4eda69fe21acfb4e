"""Live preview: rebuild what an edit affects and reload the open page, keeping its slide.

`livedeck watch` builds the HTML of every deck once, serves `build/` on 127.0.0.1 only, and polls
the project's inputs (slides, theme, assets, experiments and their parameters, the Marp engine).
After an edit it runs the ordinary build, which re-runs only the experiments whose inputs changed
and re-renders only the decks whose Markdown changed, so an edit to slide text runs no experiment.

Each served deck page gets a small script that long-polls `/__livedeck/events`. When a build
finishes, the page reloads; Marp keeps the slide number in the URL hash, so the current slide
stays on screen. When a build fails, the previous HTML stays in `build/` and on screen, and the
page shows the error in an overlay until the next good build.

The watcher polls instead of using file-system events, because polling needs no extra package and
works the same on every file system. A project has a few hundred files, which take milliseconds to
scan.
"""

import errno
import html
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from .build import build, summary
from .errors import LivedeckError
from .paths import Project

log = logging.getLogger("livedeck.watch")

POLL_SECONDS = 0.3
SETTLE_SECONDS = 0.2  # an editor often writes a file in several steps, so wait for them to finish
LONG_POLL_SECONDS = 25
PORT_ATTEMPTS = 20

WATCHED_FOLDERS = ("slides", "theme", "assets", "experiments")
WATCHED_FILES = ("scripts/marp-engine.mjs",)
IGNORED_PARTS = {"__pycache__", "results"}  # results are written by the build itself

CLIENT = """
<script>
(() => {
  let version = %(version)d;
  const overlay = document.createElement('div');
  overlay.id = 'livedeck-error';
  overlay.setAttribute('role', 'alert');
  overlay.style.cssText = 'position:fixed;inset:auto 0 0 0;max-height:60vh;overflow:auto;z-index:2147483647;' +
    'background:#7a1010;color:#fff;font:15px/1.45 monospace;padding:16px 20px;white-space:pre-wrap;display:none';
  document.addEventListener('DOMContentLoaded', () => document.body.appendChild(overlay));
  const show = (error) => {
    overlay.textContent = error ? 'Build failed; this page shows the last good build.\\n\\n' + error : '';
    overlay.style.display = error ? 'block' : 'none';
  };
  show(%(error)s);
  const poll = () => fetch('/__livedeck/events?since=' + version)
    .then((response) => response.json())
    .then((state) => {
      if (state.version !== version) { location.reload(); return; }
      show(state.error);
      poll();
    })
    .catch(() => setTimeout(poll, 1000));
  poll();
})();
</script>
"""


class BuildState:
    """The outcome of the latest build, shared between the build loop and the server threads."""

    def __init__(self):
        self.version = 0
        self.error: str | None = None
        self.changed = threading.Condition()

    def publish(self, *, error: str | None):
        with self.changed:
            if error is None:
                self.version += 1
            self.error = error
            self.changed.notify_all()

    def wait(self, since: int, error_seen: str | None, timeout: float) -> tuple[int, str | None]:
        """Block until the version differs from `since` or the error differs from `error_seen`, or until `timeout`."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != since or self.error != error_seen, timeout=timeout)
            return self.version, self.error


def snapshot(project: Project) -> dict[str, tuple[int, int]]:
    """Return (modification time, size) of every watched file, by path relative to the root."""
    files = {}
    for folder in WATCHED_FOLDERS:
        base = project.root / folder
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            relative = path.relative_to(project.root)
            if IGNORED_PARTS.intersection(relative.parts) or path.name.startswith(".") or not path.is_file():
                continue
            stat = path.stat()
            files[str(relative)] = (stat.st_mtime_ns, stat.st_size)
    for name in WATCHED_FILES:
        path = project.root / name
        if path.is_file():
            stat = path.stat()
            files[name] = (stat.st_mtime_ns, stat.st_size)
    return files


def describe_changes(before: dict, after: dict) -> str:
    """Return the first few files added, removed or modified between two snapshots, for the log."""
    changed = sorted(set(before) ^ set(after) | {name for name in set(before) & set(after) if before[name] != after[name]})
    listed = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return listed or "nothing"


def make_handler(project: Project, state: BuildState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 (the base class names it so)
            log.debug("http: " + format, *args)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/__livedeck/events":
                self.events(parse_qs(url.query))
            elif url.path in ("/", "/index.html"):
                self.index()
            else:
                self.deck_file(url.path.lstrip("/"))

        def send(self, body: bytes, content_type: str, status=HTTPStatus.OK):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def events(self, query):
            try:
                since = int(query.get("since", ["-1"])[0])
            except ValueError:
                since = -1
            with state.changed:
                error_seen = state.error if since == state.version else None
            version, error = state.wait(since, error_seen, LONG_POLL_SECONDS)
            self.send(json.dumps({"version": version, "error": error}).encode(), "application/json")

        def index(self):
            links = "".join(
                f'<li><a href="/{html.escape(deck)}.html">{html.escape(deck)}</a></li>' for deck in project.decks()
            )
            page = f"<!doctype html><meta charset=utf-8><title>livedeck</title><h1>Decks</h1><ul>{links}</ul>"
            self.send((page + self.client()).encode(), "text/html; charset=utf-8")

        def deck_file(self, name: str):
            path = (project.build / name).resolve()
            inside = project.build.resolve() in path.parents
            if not inside or path.suffix not in (".html", ".pdf") or not path.is_file():
                self.send(f"not found: {html.escape(name)}".encode(), "text/plain; charset=utf-8", HTTPStatus.NOT_FOUND)
                return
            body = path.read_bytes()
            if path.suffix == ".pdf":
                self.send(body, "application/pdf")
                return
            text = body.decode("utf-8")
            position = text.rfind("</body>")
            position = position if position >= 0 else len(text)
            self.send((text[:position] + self.client() + text[position:]).encode("utf-8"), "text/html; charset=utf-8")

        def client(self) -> str:
            with state.changed:
                return CLIENT % {"version": state.version, "error": json.dumps(state.error)}

    return Handler


def start_server(project: Project, state: BuildState, port: int) -> ThreadingHTTPServer:
    """Serve on 127.0.0.1 from `port`, or the next free port when it is in use, and log which."""
    handler = make_handler(project, state)
    for candidate in range(port, port + PORT_ATTEMPTS):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", candidate), handler)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise LivedeckError("serve-failed", f"failed to serve on 127.0.0.1:{candidate}: {error.strerror}; choose another port with --port") from None
            log.info("port %d is in use; trying %d", candidate, candidate + 1)
            continue
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="livedeck-server", daemon=True).start()
        return server
    raise LivedeckError(
        "serve-failed",
        f"ports {port} to {port + PORT_ATTEMPTS - 1} on 127.0.0.1 are all in use; choose another with --port",
    )


def rebuild(project: Project, state: BuildState, *, device: str) -> None:
    """Run the build for HTML; publish the new version, or the error while the old page stays."""
    started = time.perf_counter()
    try:
        decisions, reports = build(project, formats=("html",), device=device)
    except LivedeckError as error:
        log.error("error: %s", error)
        log.error("the previous outputs are still served; fix the input and save again")
        state.publish(error=str(error))
        return
    print(summary(decisions, reports, time.perf_counter() - started), flush=True)
    state.publish(error=None)


def watch(project: Project, *, port: int = 8000, device: str = "cpu", once: bool = False) -> int:
    """Build, serve and rebuild on every change until Ctrl-C."""
    state = BuildState()
    server = start_server(project, state, port)
    host, bound = server.server_address[:2]
    print(f"serving http://{host}:{bound}/ (loopback only); watching slides/, theme/, assets/ and experiments/", flush=True)
    for deck in project.decks():
        print(f"  http://{host}:{bound}/{deck}.html", flush=True)
    try:
        seen = snapshot(project)
        rebuild(project, state, device=device)
        while not once:
            time.sleep(POLL_SECONDS)
            current = snapshot(project)
            if current == seen:
                continue
            time.sleep(SETTLE_SECONDS)
            current = snapshot(project)
            log.info("changed: %s", describe_changes(seen, current))
            seen = current
            rebuild(project, state, device=device)
    except KeyboardInterrupt:
        print("stopped: the last good outputs and results are left in place", flush=True)
    finally:
        server.shutdown()
        server.server_close()
    return 0
