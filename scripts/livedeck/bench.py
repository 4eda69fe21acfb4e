"""Benchmarks: how fast and how large the product is, measured side by side on this machine.

`livedeck bench` (`make bench`) runs each measurement several times and reports the median with
the minimum and maximum, prints one table, and writes `build/bench.json`. The machine is shared
and noisy, so comparisons are ratios of runs interleaved in the same session, never a time
measured today against one from yesterday.

Builds run in a scratch copy of the project under a temporary folder, so the benchmark never
touches the lecturer's `build/`, results or parameters.

Measurements, each with the goal it is judged against:
- build: our full build of each deck (templates, Marp HTML and PDF, committed results) against
  the same two Marp CLI commands started by hand on the rendered Markdown. Goal: ratio <= 1.15.
- no-op: `make slides` with nothing changed. Goal: under 0.5 s.
- refresh: one experiment's parameter changed, then a build; the time beyond the experiment's own
  run. Goal: under 3 s.
- start-up: navigation start to the page's all-charts-drawn signal in headless Chromium. Goal:
  under 300 ms.
- size: the single-file HTML and the PDF. Goal: HTML under 1.5 MB.
- scale: 1, 4 and 16 copies of a deck as separate decks, built with 1 and 2 jobs.
- experiments: each experiment's full run time and peak memory, in a fresh process.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from . import experiments
from .build import build
from .bundle import build_bundle, subsets_for
from .fileio import write_json_atomic
from .paths import Project
from .tools import find_chromium, marp_command

MEASUREMENTS = ("build", "noop", "refresh", "startup", "size", "scale", "experiments")

# The experiment whose parameter the refresh measurement changes: the fastest one, so the
# figure is dominated by what the build adds, not by the experiment.
REFRESH_EXPERIMENT = "speculative_decoding"
REFRESH_VALUES = ({"trials": 3000}, {"trials": 3001})

GOALS = {
    "build_ratio": 1.15,
    "noop_s": 0.5,
    "refresh_overhead_s": 3.0,
    "startup_ms": 300.0,
    "html_bytes": 1.5e6,
}


def stats(values: list[float]) -> dict:
    """Return the median, minimum and maximum of repeated measurements, and how many there were."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@contextmanager
def scratch_project(project: Project):
    """Yield a copy of the project's inputs in a temporary folder, sharing `node_modules`."""
    with tempfile.TemporaryDirectory(prefix="livedeck-bench-") as folder:
        root = Path(folder)
        for name in ("slides", "theme", "experiments", "assets"):
            if (project.root / name).is_dir():
                shutil.copytree(project.root / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "scripts").mkdir()
        shutil.copy2(project.root / "scripts" / "marp-engine.mjs", root / "scripts")
        for name in ("package.json", "package-lock.json", "pyproject.toml"):
            shutil.copy2(project.root / name, root / name)
        (root / "node_modules").symlink_to(project.node_modules.resolve())
        yield Project(root)


# -----------------------------------------------------------------------------
# Measurements


def bare_marp(project: Project, deck: str, out: Path) -> None:
    """Run the two Marp commands a lecturer would run on the rendered Markdown, at once, as our build does."""
    # The same bundle our build chose for this deck, already built by the warm-up.
    bundle = build_bundle(project, subsets_for(project, (project.build / f"{deck}.md").read_text(encoding="utf-8")))
    env = {**os.environ, "LIVEDECK_RUNTIME": str(bundle.runtime_js), "CHROME_PATH": find_chromium()}
    base = marp_command(project) + [
        "--no-config-file", "--html",
        "--engine", str(project.root / "scripts" / "marp-engine.mjs"),
        "--theme-set", str(bundle.theme_css),
    ]
    markdown = str(project.build / f"{deck}.md")
    commands = [
        base + ["--output", str(out / f"{deck}.html"), "--", markdown],
        base + ["--pdf", "--output", str(out / f"{deck}.pdf"), "--", markdown],
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for completed in pool.map(
            lambda command: subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True), commands
        ):
            if completed.returncode != 0:
                raise RuntimeError(f"bare Marp run failed for deck {deck}: {completed.stderr.strip()}")


def measure_build(project: Project, repeats: int) -> dict:
    """Time our forced build and bare Marp, alternating run by run."""
    with scratch_project(project) as scratch:
        build(scratch, run_experiments=False, force=True)  # warm-up: bundle cache, disk cache
        out = scratch.root / "bare"
        out.mkdir()
        ours, bare = [], []
        for _ in range(repeats):
            ours.append(timed(lambda: build(scratch, run_experiments=False, force=True)))
            bare.append(sum(timed(lambda: bare_marp(scratch, deck, out)) for deck in scratch.decks()))
    ratios = [a / b for a, b in zip(ours, bare)]
    return {"ours_s": stats(ours), "bare_marp_s": stats(bare), "ratio": stats(ratios)}


def measure_noop(project: Project, repeats: int) -> dict:
    """Time `make slides` and the tool alone when every output is up to date."""
    overrides = experiments.load_overrides(project)
    stale = [name for name in experiments.list_experiments(project) if experiments.staleness(project, name, overrides).stale]
    if stale:
        # `make slides` would run them first, which is a refresh, not a no-op.
        return {"skipped": f"experiments not up to date: {', '.join(stale)}; run `make experiments` first"}
    make = ["make", "--no-print-directory", "slides"]
    tool = [sys.executable, "-m", "livedeck", "build"]
    for command in (make, tool):  # the first call may build; later ones must do nothing
        subprocess.run(command, cwd=project.root, capture_output=True, check=True)
    make_times, tool_times = [], []
    for _ in range(repeats):
        make_times.append(timed(lambda: subprocess.run(make, cwd=project.root, capture_output=True, check=True)))
        tool_times.append(timed(lambda: subprocess.run(tool, cwd=project.root, capture_output=True, check=True)))
    return {"make_slides_s": stats(make_times), "tool_build_s": stats(tool_times)}


def measure_refresh(project: Project, repeats: int) -> dict:
    """Change one experiment's parameter, build, and subtract the experiment's own run time."""
    results = {}
    with scratch_project(project) as scratch:
        build(scratch, run_experiments=False, force=True)
        for label, formats in (("html", ("html",)), ("html_pdf", ("html", "pdf"))):
            totals, overheads = [], []
            for index in range(repeats):
                values = REFRESH_VALUES[index % 2] if label == "html" else REFRESH_VALUES[(index + 1) % 2]
                scratch.params.write_text(json.dumps({REFRESH_EXPERIMENT: values}))
                total = timed(lambda: build(scratch, formats=formats))
                own = experiments.read_results(scratch, REFRESH_EXPERIMENT)["provenance"]["duration_s"]
                totals.append(total)
                overheads.append(total - own)
            results[label] = {"total_s": stats(totals), "overhead_s": stats(overheads)}
    return results


READY_PROBE = """
document.addEventListener('DOMContentLoaded', () => { window.__domReadyAt = performance.now(); }, { once: true });
document.addEventListener('cdl:charts-ready', () => { window.__chartsReadyAt = performance.now(); }, { once: true });
"""


def measure_startup(project: Project, repeats: int) -> dict:
    """Return milliseconds from navigation start to the charts-ready signal per deck, a new page each run."""
    from .screenshots import browser_session

    per_deck = {}
    with browser_session() as browser:
        for deck in project.decks():
            html = project.build / f"{deck}.html"
            ready, dom = [], []
            for _ in range(repeats + 1):
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.add_init_script(READY_PROBE)
                page.goto(html.as_uri())
                page.wait_for_function("window.__chartsReadyAt !== undefined")
                ready.append(page.evaluate("window.__chartsReadyAt"))
                dom.append(page.evaluate("window.__domReadyAt"))
                page.close()
            # The first run warms the disk and the browser's caches, so it is left out.
            per_deck[deck] = {
                **stats(ready[1:]),
                "dom_ready_ms": stats(dom[1:]),
                "charts_after_dom_ms": stats([r - d for r, d in zip(ready[1:], dom[1:])]),
            }
    return per_deck


def measure_size(project: Project) -> dict:
    sizes = {}
    for deck in project.decks():
        sizes[deck] = {fmt: (project.build / f"{deck}.{fmt}").stat().st_size for fmt in ("html", "pdf")}
    return sizes


def measure_scale(project: Project, counts=(1, 4, 16), jobs=(1, 2)) -> dict:
    """Build n copies of the first deck as separate decks, with 1 and 2 decks at a time; one run each."""
    rows = []
    with scratch_project(project) as scratch:
        first = sorted(scratch.slides.glob("*.md.j2"))[0]
        for template in scratch.slides.glob("*.md.j2"):
            if template != first:
                template.unlink()
        build(scratch, run_experiments=False, force=True)
        for count in counts:
            for index in range(1, count):
                shutil.copy2(first, scratch.slides / f"copy-{index:02d}.md.j2")
            for job_count in jobs:
                seconds = timed(lambda: build(scratch, run_experiments=False, force=True, jobs=job_count))
                rows.append({"decks": count, "jobs": job_count, "seconds": seconds, "per_deck_s": seconds / count})
    return {"runs": rows}


def measure_experiments(project: Project) -> dict:
    """Run each experiment in full in its own process; report its run time and peak memory."""
    rows = {}
    with tempfile.TemporaryDirectory(prefix="livedeck-bench-") as folder:
        for name in experiments.list_experiments(project):
            output = Path(folder) / f"{name}.json"
            code = (
                "import resource, sys\n"
                "from pathlib import Path\n"
                "from livedeck.experiments import run_experiment\n"
                "from livedeck.paths import Project\n"
                f"document = run_experiment(Project(Path({str(project.root)!r})), {name!r}, output=Path({str(output)!r}))\n"
                "print(document['provenance']['duration_s'])\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
            )
            completed = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True)
            if completed.returncode != 0:
                rows[name] = {"error": completed.stderr.strip().splitlines()[-1:]}
                continue
            duration, peak_kib = completed.stdout.split()[-2:]
            rows[name] = {"seconds": float(duration), "peak_memory_mb": int(peak_kib) / 1024}
    return rows


# -----------------------------------------------------------------------------
# Report


def _range(entry: dict, scale=1.0, digits=2) -> str:
    return (
        f"{entry['median'] * scale:.{digits}f} (min {entry['min'] * scale:.{digits}f}, "
        f"max {entry['max'] * scale:.{digits}f}, n={entry['runs']})"
    )


def _verdict(value: float, goal: float) -> str:
    return "meets goal" if value <= goal else "misses goal"


def report_lines(figures: dict) -> list[str]:
    lines = []
    if "build" in figures:
        built = figures["build"]
        lines.append(f"build, ours (s)           {_range(built['ours_s'])}")
        lines.append(f"build, bare Marp (s)      {_range(built['bare_marp_s'])}")
        lines.append(
            f"build ratio               {_range(built['ratio'], digits=3)}  goal <= {GOALS['build_ratio']}: "
            f"{_verdict(built['ratio']['median'], GOALS['build_ratio'])}"
        )
    if "noop" in figures and "skipped" in figures["noop"]:
        lines.append(f"no-op make slides         skipped: {figures['noop']['skipped']}")
    elif "noop" in figures:
        noop = figures["noop"]
        lines.append(
            f"no-op make slides (s)     {_range(noop['make_slides_s'], digits=3)}  goal < {GOALS['noop_s']}: "
            f"{_verdict(noop['make_slides_s']['median'], GOALS['noop_s'])}"
        )
        lines.append(f"no-op tool alone (s)      {_range(noop['tool_build_s'], digits=3)}")
    if "refresh" in figures:
        for label, entry in figures["refresh"].items():
            lines.append(
                f"refresh {label:<9} total (s) {_range(entry['total_s'])}; beyond the experiment "
                f"{entry['overhead_s']['median']:.2f} s: {_verdict(entry['overhead_s']['median'], GOALS['refresh_overhead_s'])}"
            )
    if "startup" in figures:
        for deck, entry in figures["startup"].items():
            lines.append(
                f"start-up {deck} (ms)  {_range(entry, digits=0)}  goal < {GOALS['startup_ms']:.0f}: "
                f"{_verdict(entry['median'], GOALS['startup_ms'])}"
            )
            lines.append(
                f"  of which page parsed (DOMContentLoaded) {entry['dom_ready_ms']['median']:.0f} ms, "
                f"then charts drawn in {entry['charts_after_dom_ms']['median']:.0f} ms"
            )
    if "size" in figures:
        for deck, entry in figures["size"].items():
            lines.append(
                f"size {deck}         HTML {entry['html']:,} bytes, goal < 1.5 MB: {_verdict(entry['html'], GOALS['html_bytes'])}, "
                f"PDF {entry['pdf']:,} bytes"
            )
    if "scale" in figures:
        for row in figures["scale"]["runs"]:
            lines.append(
                f"scale {row['decks']:>2} decks, {row['jobs']} job(s)  {row['seconds']:.1f} s, "
                f"{row['per_deck_s']:.2f} s per deck"
            )
    if "experiments" in figures:
        for name, row in figures["experiments"].items():
            if "error" in row:
                lines.append(f"experiment {name:<22} failed: {' '.join(row['error'])}")
            else:
                lines.append(f"experiment {name:<22} {row['seconds']:.1f} s, peak memory {row['peak_memory_mb']:.0f} MB")
    return lines


def run(project: Project, *, only: tuple[str, ...] = MEASUREMENTS, repeats: int = 5) -> dict:
    """Run the selected measurements, print the table, write build/bench.json, return the figures."""
    figures = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "repeats": repeats}
    steps = {
        "build": lambda: measure_build(project, repeats),
        "noop": lambda: measure_noop(project, repeats),
        "refresh": lambda: measure_refresh(project, repeats),
        "startup": lambda: measure_startup(project, repeats),
        "size": lambda: measure_size(project),
        "scale": lambda: measure_scale(project),
        "experiments": lambda: measure_experiments(project),
    }
    if "startup" in only or "size" in only:
        build(project, run_experiments=False)  # make sure the outputs exist and are current
    for name in MEASUREMENTS:
        if name in only:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            figures[name] = steps[name]()
    for line in report_lines(figures):
        print(line)
    write_json_atomic(project.build / "bench.json", figures)
    print(f"figures written to {project.relative(project.build / 'bench.json')}")
    return figures
