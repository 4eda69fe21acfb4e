"""Command line of livedeck: build decks, run experiments, check that results are current."""

import argparse
import logging
import sys
import time

from . import experiments
from .build import build, summary
from .errors import LivedeckError
from .paths import Project, find_root

def _command_build(project: Project, options) -> int:
    started = time.perf_counter()
    formats = ("html",) if options.no_pdf else ("html", "pdf")
    if options.pptx:
        formats += ("pptx",)
    decisions, reports = build(
        project,
        options.decks or None,
        run_experiments=not options.no_experiments,
        force=options.force,
        formats=formats,
        device=options.device,
        jobs=options.jobs,
        pdf_notes=options.pdf_notes,
    )
    print(summary(decisions, reports, time.perf_counter() - started))
    return 0


def _command_experiments(project: Project, options) -> int:
    started = time.perf_counter()
    if options.quick:
        for name in options.names or experiments.list_experiments(project):
            document = experiments.run_experiment(project, name, quick=True, device=options.device)
            print(f"  experiment {name:<22} quick run valid ({document['provenance']['duration_s']:.1f} s)")
        return 0
    decisions = experiments.refresh(project, options.names or None, force=options.force, device=options.device)
    print(summary(decisions, [], time.perf_counter() - started))
    return 0


def _command_check(project: Project, options) -> int:
    overrides = experiments.load_overrides(project)
    stale = [s for s in (experiments.staleness(project, n, overrides) for n in experiments.list_experiments(project)) if s.stale]
    for state in stale:
        print(f"stale: {state.name}: {state.reason}; run `livedeck experiments {state.name}` and commit the results")
    return 1 if stale else 0


def _command_screenshots(project: Project, options) -> int:
    from . import screenshots

    decks = options.decks or project.decks()
    results = {}
    with screenshots.browser_session() as browser:
        for deck in decks:
            images = screenshots.render_slides(browser, project.build / f"{deck}.html")
            if options.update:
                changed = screenshots.update_baselines(project, deck, images)
                listed = ", ".join(str(n) for n in changed) if changed else "none"
                print(f"  deck {deck}: {len(images)} slides, baselines changed: {listed}")
            else:
                results[deck] = screenshots.check_deck(project, deck, images)
    if options.update:
        return 0
    report = screenshots.write_report(project, results)
    failed = {deck: differences for deck, differences in results.items() if differences}
    for deck, differences in failed.items():
        for difference in differences:
            print(f"  deck {deck}, slide {difference.number}: {difference.reason}")
    if failed:
        print(f"report: {report}\naccept the new rendering with `make screenshots` if the change is intended")
        return 1
    print("  every slide matches its baseline")
    return 0


def _command_bench(project: Project, options) -> int:
    from . import bench

    only = tuple(options.only.split(",")) if options.only else bench.MEASUREMENTS
    unknown = [name for name in only if name not in bench.MEASUREMENTS]
    if unknown:
        raise LivedeckError("invalid-option", f"--only: invalid measurement {', '.join(unknown)}; use one of {', '.join(bench.MEASUREMENTS)}")
    if options.repeats < 1:
        raise LivedeckError("invalid-option", f"--repeats must be 1 or more, got {options.repeats}")
    bench.run(project, only=only, repeats=options.repeats)
    return 0


def _command_watch(project: Project, options) -> int:
    from .watch import watch

    return watch(project, port=options.port, device=options.device)


def _command_new(project: Project, options) -> int:
    from .starter import new_deck

    path = new_deck(project, options.name, title=options.title)
    print(
        f"created {project.relative(path)}; preview it with `make watch`, build it with `make slides`, "
        f"then record its baseline screenshots with `make screenshots DECKS={options.name}` and commit them"
    )
    return 0


def _command_figures(project: Project, options) -> int:
    from .figures import write_figures

    paths = write_figures(project, options.decks or None)
    print(f"  wrote {len(paths)} files to {project.relative(project.build / 'figures')}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livedeck", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every decision and external command")
    commands = parser.add_subparsers(dest="command", required=True)

    build_parser = commands.add_parser("build", help="run stale experiments, then build each deck's HTML and PDF")
    build_parser.add_argument("decks", nargs="*", help="decks to build (default: every slides/*.md.j2)")
    build_parser.add_argument("--force", action="store_true", help="rebuild the decks even when nothing changed")
    build_parser.add_argument("--no-pdf", action="store_true", help="write only the HTML")
    build_parser.add_argument("--no-experiments", action="store_true", help="use the committed results as they are")
    build_parser.add_argument("--device", default="cpu", help="PyTorch device for experiments that run (default: cpu)")
    build_parser.add_argument("--pptx", action="store_true", help="also write build/<deck>.pptx (slides as images) for PowerPoint")
    build_parser.add_argument("--pdf-notes", action="store_true", help="write build/<deck>-notes.pdf, the PDF with the speaker notes as annotations")
    build_parser.add_argument("-j", "--jobs", type=int, default=1, help="decks to build at once (default: 1)")
    build_parser.set_defaults(handler=_command_build)

    run_parser = commands.add_parser("experiments", help="run the experiments whose inputs changed")
    run_parser.add_argument("names", nargs="*", help="experiments to consider (default: all)")
    run_parser.add_argument("--force", action="store_true", help="run even when the results are up to date")
    run_parser.add_argument("--quick", action="store_true", help="run the quick mode and validate it, writing nothing")
    run_parser.add_argument("--device", default="cpu", help="PyTorch device (default: cpu)")
    run_parser.set_defaults(handler=_command_experiments)

    shots_parser = commands.add_parser("screenshots", help="compare each slide with its baseline screenshot")
    shots_parser.add_argument("decks", nargs="*", help="decks to check (default: all)")
    shots_parser.add_argument("--update", action="store_true", help="accept the current rendering as the new baselines")
    shots_parser.set_defaults(handler=_command_screenshots)

    bench_parser = commands.add_parser("bench", help="measure build speed, start-up and size; print a table, write build/bench.json")
    bench_parser.add_argument("--only", help="comma-separated measurements (default: all): build,noop,refresh,startup,size,scale,experiments")
    bench_parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (default: 5)")
    bench_parser.set_defaults(handler=_command_bench)

    figures_parser = commands.add_parser("figures", help="write every chart as PNG (300 dpi) and SVG to build/figures/<deck>/")
    figures_parser.add_argument("decks", nargs="*", help="decks to draw (default: all)")
    figures_parser.set_defaults(handler=_command_figures)

    watch_parser = commands.add_parser("watch", help="build, serve on 127.0.0.1 and rebuild and reload on every edit")
    watch_parser.add_argument("--port", type=int, default=8000, help="first port to try (default: 8000)")
    watch_parser.add_argument("--device", default="cpu", help="PyTorch device for experiments that run (default: cpu)")
    watch_parser.set_defaults(handler=_command_watch)

    new_parser = commands.add_parser("new", help="create slides/<name>.md.j2 from the starter template")
    new_parser.add_argument("name", help="deck name: lowercase letters, digits and dashes")
    new_parser.add_argument("--title", help="the deck's title (default: made from the name)")
    new_parser.set_defaults(handler=_command_new)

    check_parser = commands.add_parser("check-results", help="exit 1 if a committed results file is stale")
    check_parser.set_defaults(handler=_command_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.INFO,
        format="%(message)s" if not options.verbose else "%(name)s: %(message)s",
        stream=sys.stderr,
    )
    project = Project(find_root())
    try:
        return options.handler(project, options)
    except LivedeckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: previous outputs and results are left in place", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
