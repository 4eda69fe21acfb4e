"""Committed results match the current experiment code and parameters, and every quick mode validates."""

import importlib

import jsonschema
import pytest

from conftest import ROOT
from livedeck import experiments
from livedeck.paths import Project
from livedeck.validate import lookup

EXPERIMENTS = experiments.list_experiments(Project(ROOT))


def _names(project):
    return experiments.list_experiments(project)


def test_committed_results_are_current(project):
    overrides = experiments.load_overrides(project)
    stale = [experiments.staleness(project, name, overrides) for name in _names(project)]
    described = [f"{s.name}: {s.reason}" for s in stale if s.stale]
    assert described == [], "stale results; run `make experiments` and commit experiments/results: " + "; ".join(described)


def test_committed_results_are_full_runs(project):
    for name in _names(project):
        provenance = experiments.read_results(project, name)["provenance"]
        assert provenance["quick"] is False, f"{name}: committed results come from a quick run"
        assert provenance["input_hash"] == experiments.combined_hash(provenance["inputs"])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_mode_runs_and_validates(project, name):
    module = importlib.import_module(f"experiments.{name}")
    jsonschema.Draft202012Validator.check_schema(module.SCHEMA)

    document = experiments.run_experiment(project, name, quick=True)
    assert document["provenance"]["quick"] is True
    assert document["data"]
    jsonschema.Draft202012Validator(module.SCHEMA).validate(document["data"])
    for group in module.SAME_LENGTH:
        lengths = {path: len(lookup(document["data"], path)) for path in group}
        assert len(set(lengths.values())) == 1, lengths
