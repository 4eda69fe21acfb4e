"""The build: refresh stale experiments, render each deck's template, run Marp for HTML and PDF.

A deck is rebuilt only when something it is made of changed: its rendered Markdown (template,
results, published figures), the theme and chart runtime, the Marp engine or the npm lock file.
Outputs are written to temporary files and renamed into place, so an interrupted or failed build
leaves the previous HTML and PDF untouched.
"""

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import experiments
from .bundle import Bundle, build_bundle, subsets_for
from .fileio import publish, temporary_path, write_json_atomic, write_text_atomic
from .paths import Project
from .render import render_deck
from .tools import find_chromium, run_marp

log = logging.getLogger("livedeck.build")


@dataclass
class DeckReport:
    """The outcome of building one deck, for the closing summary."""

    name: str
    action: str
    charts: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _deck_digest(markdown: str, bundle: Bundle, project: Project, formats: tuple[str, ...], pdf_notes: bool) -> str:
    hasher = hashlib.sha256()
    hasher.update(b"pdf-notes" if pdf_notes else b"")
    # This file chooses Marp's options, so a change here rebuilds every deck.
    hasher.update(Path(__file__).read_bytes())
    hasher.update(markdown.encode("utf-8"))
    hasher.update(bundle.digest.encode())
    hasher.update((project.root / "scripts" / "marp-engine.mjs").read_bytes())
    hasher.update(",".join(formats).encode())
    return hasher.hexdigest()


def _marp_output(project: Project, markdown_path: Path, bundle: Bundle, target: Path, tmp: Path, chromium: str,
                 pdf_notes: bool = False) -> None:
    """Have Marp write one output (HTML, PDF or PPTX, by `target`'s suffix) to the temporary file `tmp`."""
    args = [
        "--no-config-file",
        "--html",
        "--engine", str(project.root / "scripts" / "marp-engine.mjs"),
        "--theme-set", str(bundle.theme_css),
        "--output", str(tmp),
    ]
    if target.suffix == ".pdf":
        # Bookmarks from the slide titles, so a reader can jump to a section.
        args += ["--pdf", "--pdf-outlines", "--pdf-outlines.pages=false"]
        if pdf_notes:
            args.append("--pdf-notes")
    elif target.suffix == ".pptx":
        args.append("--pptx")
    env = {"LIVEDECK_RUNTIME": str(bundle.runtime_js), "CHROME_PATH": chromium}
    run_marp(project, [*args, "--", str(markdown_path)], env=env, output_name=project.relative(target))


def build_deck(project: Project, deck: str, *, formats=("html", "pdf"), force=False, pdf_notes=False) -> DeckReport:
    """Render one deck and write `build/<deck>.<format>` for each format whose inputs changed."""
    started = time.perf_counter()
    markdown, record = render_deck(project, deck)
    bundle = build_bundle(project, subsets_for(project, markdown))
    markdown_path = project.build / f"{deck}.md"
    targets = {fmt: project.build / f"{deck}.{fmt}" for fmt in formats}
    if pdf_notes and "pdf" in targets:
        # The lecturer's copy with notes goes next to the students' PDF, never over it.
        targets["pdf"] = project.build / f"{deck}-notes.pdf"

    digest = _deck_digest(markdown, bundle, project, tuple(formats), pdf_notes)
    state_path = project.state / f"{deck}.json"
    previous = json.loads(state_path.read_text()) if state_path.is_file() else {}
    up_to_date = (
        not force
        and previous.get("digest") == digest
        and all(path.is_file() for path in targets.values())
        and markdown_path.is_file()
    )
    report = DeckReport(deck, "up to date", charts=len(record.charts))
    if up_to_date:
        log.debug("skipped deck %s: up to date", deck)
    else:
        if force:
            reason = "forced"
        elif previous:
            reason = "inputs changed"
        else:
            reason = "first build"
        log.info("building deck %s: %s", deck, reason)
        write_text_atomic(markdown_path, markdown)
        chromium = find_chromium()
        # The old state goes first, so an interrupted build is never taken for an up-to-date one.
        state_path.unlink(missing_ok=True)
        # Made inside the try, so a Ctrl-C between two of them still removes the first.
        temporaries = {}
        try:
            for target in targets.values():
                temporaries[target] = temporary_path(target, suffix=target.suffix)
            with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                futures = [
                    pool.submit(_marp_output, project, markdown_path, bundle, target, tmp, chromium, pdf_notes)
                    for target, tmp in temporaries.items()
                ]
                for future in futures:
                    future.result()
            # Only when every format succeeded are they renamed into place, so HTML and PDF never disagree.
            for target, tmp in temporaries.items():
                publish(tmp, target)
        finally:
            for tmp in temporaries.values():
                tmp.unlink(missing_ok=True)
        write_json_atomic(
            state_path,
            {"digest": digest, "experiments": sorted(record.experiments), "charts": record.charts},
        )
        report.action = "built"
    report.outputs = {fmt: path.stat().st_size for fmt, path in targets.items()}
    report.seconds = time.perf_counter() - started
    return report


def build(project: Project, decks: list[str] | None = None, *, run_experiments=True, force=False,
          formats=("html", "pdf"), device="cpu", jobs=1, pdf_notes=False) -> tuple[list, list[DeckReport]]:
    """Build the decks named (all when None); return the experiment decisions and deck reports.

    `jobs` decks are built at once. Each deck writes only its own files, so they do not collide.
    """
    from .errors import LivedeckError

    known = project.decks()
    if not known:
        raise LivedeckError("no-decks", f"no decks found: add a template slides/<deck>.md.j2 in {project.root}")
    for deck in decks or []:
        if deck not in known:
            raise LivedeckError("unknown-deck", f"deck {deck} not found; decks: {', '.join(known)}")

    decisions = experiments.refresh(project, device=device) if run_experiments else []
    names = decks or known
    if jobs <= 1 or len(names) == 1:
        reports = [build_deck(project, deck, formats=formats, force=force, pdf_notes=pdf_notes) for deck in names]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            reports = list(
                pool.map(lambda deck: build_deck(project, deck, formats=formats, force=force, pdf_notes=pdf_notes), names)
            )
    return decisions, reports


def summary(decisions, reports: list[DeckReport], seconds: float) -> str:
    """Return the closing table: each experiment's decision, each deck's outputs, the total time."""
    lines = []
    current = [name for name, _, run_seconds in decisions if run_seconds is None]
    for name, decision, run_seconds in decisions:
        if run_seconds is not None:
            lines.append(f"  experiment {name:<22} {decision} ({run_seconds:.1f} s)")
    if current:
        lines.append(f"  experiments up to date: {', '.join(current)}")
    for report in reports:
        sizes = ", ".join(f"{fmt.upper()} {size / 1024:,.0f} KiB" for fmt, size in report.outputs.items())
        lines.append(f"  deck       {report.name:<22} {report.action}: {sizes}, {report.charts} charts")
    lines.append(f"  done in {seconds:.2f} s")
    return "\n".join(lines)
