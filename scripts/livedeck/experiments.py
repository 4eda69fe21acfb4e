"""The experiment runner: decide which experiments are stale, run them, validate and write results.

An experiment is a module `experiments/<name>.py` with a `Params` dataclass, a `QUICK` instance of
it, a `SEED`, a `SCHEMA` (JSON Schema of its output), `SAME_LENGTH` groups and
`run(params, *, device, progress) -> dict`. Its input hash covers its source, the project modules
it imports (found by reading import statements, so no experiment is imported to decide) and its
parameter overrides from `experiments/params.yaml`.
"""

import ast
import dataclasses
import hashlib
import importlib
import json
import logging
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from .errors import LivedeckError
from .fileio import read_yaml, write_json_atomic
from .paths import Project
from .progress import Progress
from .validate import plain_data, validate_output

log = logging.getLogger("livedeck.experiments")

PACKAGE = "experiments"


@dataclass
class Staleness:
    """Whether an experiment must run, and the reason in words a log line can use."""

    name: str
    stale: bool
    reason: str
    inputs: dict[str, str]


def list_experiments(project: Project) -> list[str]:
    """Return the names of the experiment modules: files in experiments/ that define `run`."""
    names = []
    for path in sorted(project.experiments.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in tree.body):
            names.append(path.stem)
    return names


def _imported_project_files(project: Project, path: Path) -> set[Path]:
    """Return the files of the `experiments` package that the module at `path` imports, transitively."""
    seen: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = ast.parse(current.read_text(encoding="utf-8"), filename=str(current))
        package_parts = list(current.relative_to(project.root).with_suffix("").parts[:-1])
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package_parts[: len(package_parts) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                modules = [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
            for module in modules:
                if module != PACKAGE and not module.startswith(PACKAGE + "."):
                    continue
                candidate = project.root.joinpath(*module.split("."))
                for file in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                    if file.is_file():
                        pending.append(file)
    return seen


def load_overrides(project: Project) -> dict[str, dict]:
    """Read `experiments/params.yaml`: per experiment, the parameters that differ from its defaults."""
    if not project.params.is_file():
        return {}
    loaded = read_yaml(project.params, project.relative(project.params), "invalid-params") or {}
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
        raise LivedeckError(
            "invalid-params",
            f"{project.relative(project.params)}: expected a mapping of experiment name to a mapping of parameters",
        )
    known = list_experiments(project)
    unknown = sorted(set(loaded) - set(known))
    if unknown:
        raise LivedeckError(
            "invalid-params",
            f"{project.relative(project.params)} sets parameters for {', '.join(unknown)}, which is not an experiment; "
            f"known experiments: {', '.join(known) or 'none'}",
        )
    return loaded


def input_hashes(project: Project, name: str, overrides: dict) -> dict[str, str]:
    """Return a SHA-256 per input of experiment `name`: each source file, and its parameter overrides."""
    path = project.experiments / f"{name}.py"
    if not path.is_file():
        raise LivedeckError("unknown-experiment", f"experiment {name} not found: no file {project.relative(path)}")
    hashes = {}
    for file in sorted(_imported_project_files(project, path)):
        hashes[project.relative(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    params_text = json.dumps(overrides.get(name, {}), sort_keys=True)
    hashes["params"] = hashlib.sha256(params_text.encode()).hexdigest()
    return hashes


def combined_hash(hashes: dict[str, str]) -> str:
    text = json.dumps(hashes, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def results_path(project: Project, name: str) -> Path:
    return project.results / f"{name}.json"


def read_results(project: Project, name: str) -> dict:
    """Load a results file; an invalid one raises an error naming the file, line and the way back."""
    path = results_path(project, name)
    if not path.is_file():
        known = list_experiments(project)
        if name not in known:
            raise LivedeckError(
                "unknown-experiment",
                f"no experiment named {name}: there is no experiments/{name}.py; known experiments: {', '.join(known) or 'none'}",
            )
        raise LivedeckError(
            "missing-results",
            f"results for experiment {name} not found at {project.relative(path)}; "
            f"run `make experiments` (or `livedeck experiments {name}`) to produce them",
        )
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise LivedeckError(
            "invalid-results",
            f"{project.relative(path)} line {error.lineno} column {error.colno}: invalid JSON ({error.msg}). "
            f"Restore it with `git checkout -- {project.relative(path)}` or re-run `livedeck experiments --force {name}`.",
        ) from None
    if not isinstance(document, dict) or "data" not in document or "provenance" not in document:
        raise LivedeckError(
            "invalid-results",
            f"{project.relative(path)}: expected an object with `data` and `provenance`; "
            f"re-run `livedeck experiments --force {name}` to rewrite it",
        )
    return document


def staleness(project: Project, name: str, overrides: dict) -> Staleness:
    """Compare experiment `name`'s current input hashes with the ones recorded in its results."""
    current = input_hashes(project, name, overrides)
    path = results_path(project, name)
    if not path.is_file():
        return Staleness(name, True, "no results yet", current)
    recorded = read_results(project, name)["provenance"].get("inputs", {})
    if recorded == current:
        return Staleness(name, False, "up to date", current)

    changed = sorted(key for key in current.keys() | recorded.keys() if current.get(key) != recorded.get(key))
    own = f"experiments/{name}.py"
    if changed == ["params"]:
        reason = "parameters changed"
    elif own in changed and len(changed) == 1:
        reason = "source changed"
    else:
        reason = "inputs changed: " + ", ".join("parameters" if c == "params" else c for c in changed)
    return Staleness(name, True, reason, current)


def _import_experiment(project: Project, name: str):
    # The project's root goes first on the path even when another project was imported before,
    # so `experiments` is always this project's package.
    root = str(project.root)
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    for module_name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[module_name]
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except Exception as error:
        raise LivedeckError(
            "experiment-failed",
            f"experiment {name} could not be imported: {type(error).__name__}: {error}\n{_short_traceback(error, project)}",
        ) from error


def _short_traceback(error: BaseException, project: Project) -> str:
    """Return the traceback lines that lie in the project's own experiment files."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if str(project.experiments) in f.filename] or frames[-1:]
    return "\n".join(f"  at {project.relative(Path(f.filename))}:{f.lineno} in {f.name}: {f.line}" for f in own)


def _make_params(module, name: str, overrides: dict, quick: bool):
    base = module.QUICK if quick else module.Params()
    fields = {field.name for field in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise LivedeckError(
            "invalid-params",
            f"experiments/params.yaml sets {', '.join(unknown)} for {name}, which has no such parameter; "
            f"its parameters are: {', '.join(sorted(fields))}",
        )
    values = {}
    for key, value in overrides.items():
        current = getattr(base, key)
        if isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        if not _same_kind(current, value):
            raise LivedeckError(
                "invalid-params",
                f"experiments/params.yaml sets {name}.{key} to {_yaml_text(value)}, but it takes {_kind(current)} "
                f"like its default {_yaml_text(current)}",
            )
        values[key] = value
    try:
        return dataclasses.replace(base, **values)
    except (ValueError, TypeError) as error:
        raise LivedeckError(
            "invalid-params", f"experiments/params.yaml: invalid parameters for {name}: {error}; fix them or remove them"
        ) from None


def _yaml_text(value) -> str:
    """Return `value` as it would be written in params.yaml, for messages."""
    return yaml.safe_dump(list(value) if isinstance(value, tuple) else value, default_flow_style=True).strip().removesuffix("\n...").strip()


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, tuple):
        return "a list"
    return type(value).__name__


def _same_kind(default, value) -> bool:
    """Return whether `value` has the type of the default (an int may stand for a float, not for a bool)."""
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(
            _same_kind(default[0], item) for item in value
        ) if default else isinstance(value, tuple)
    return isinstance(value, type(default))


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("torch", "numpy"):
        module = sys.modules.get(package)
        if module is not None:
            versions[package] = getattr(module, "__version__", "unknown")
    return versions


def run_experiment(project: Project, name: str, *, quick: bool = False, device: str = "cpu", output: Path | None = None) -> dict:
    """Run experiment `name`, validate its output and write its results document atomically.

    The document goes to `output`, or to experiments/results/<name>.json for a full run. A quick
    run with no `output` is validated and returned but not written, so committed results only
    ever hold full runs. On any failure the previous results file is left untouched.
    """
    overrides = load_overrides(project)
    hashes = input_hashes(project, name, overrides)
    module = _import_experiment(project, name)
    for attribute in ("Params", "QUICK", "SEED", "SCHEMA", "run"):
        if not hasattr(module, attribute):
            raise LivedeckError(
                "invalid-experiment",
                f"experiment {name} ({project.relative(project.experiments / (name + '.py'))}) does not define {attribute}",
            )
    params = _make_params(module, name, overrides.get(name, {}), quick)
    progress = Progress(name)

    started = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    try:
        data = module.run(params, device=device, progress=progress.update)
    except KeyboardInterrupt:
        progress.close()
        raise
    except Exception as error:
        progress.close()
        raise LivedeckError(
            "experiment-failed",
            f"experiment {name} failed: {type(error).__name__}: {error}\n{_short_traceback(error, project)}\n"
            f"Its previous results in {project.relative(results_path(project, name))} are unchanged.",
        ) from error
    duration = time.perf_counter() - started
    progress.close()

    validate_output(name, data, module.SCHEMA, list(getattr(module, "SAME_LENGTH", [])))
    document = {
        "experiment": name,
        "data": data,
        "provenance": {
            "params": plain_data(dataclasses.asdict(params)),
            "quick": quick,
            "seed": module.SEED,
            "device": device,
            "versions": _versions(),
            "platform": platform.platform(),
            "started_at": started_at.isoformat(timespec="seconds"),
            "duration_s": round(duration, 3),
            "input_hash": combined_hash(hashes),
            "inputs": hashes,
        },
    }
    target = output or (None if quick else results_path(project, name))
    if target is not None:
        write_json_atomic(target, document)
    return document


def refresh(project: Project, names: list[str] | None = None, *, force: bool = False, device: str = "cpu") -> list[tuple[str, str, float | None]]:
    """Run the experiments whose inputs changed (or all of `names` when forced); return what was decided.

    Each entry is (name, decision, seconds), where decision reads like "re-ran: source changed"
    or "up to date", and seconds is the run time or None when it did not run.
    """
    overrides = load_overrides(project)
    known = list_experiments(project)
    for name in names or []:
        if name not in known:
            raise LivedeckError("unknown-experiment", f"experiment {name} not found; known experiments: {', '.join(known) or 'none'}")
    decisions = []
    for name in names or known:
        state = staleness(project, name, overrides)
        if not (state.stale or force):
            log.debug("skipped %s: up to date", name)
            decisions.append((name, "up to date", None))
            continue
        reason = "forced" if force and not state.stale else state.reason
        log.info("running %s: %s", name, reason)
        document = run_experiment(project, name, device=device)
        seconds = document["provenance"]["duration_s"]
        log.debug("re-ran %s: %s (%.1f s)", name, reason, seconds)
        decisions.append((name, f"re-ran: {reason}", seconds))
    return decisions
