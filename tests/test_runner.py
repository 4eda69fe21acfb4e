"""The experiment runner: staleness by input hash, validation with JSON paths, atomic results."""

import json
import textwrap

import pytest

from livedeck import experiments
from livedeck.errors import LivedeckError

EXPERIMENT = '''
from dataclasses import dataclass

from experiments.common import helper


@dataclass(frozen=True)
class Params:
    n: int = 4
    scale: float = 1.0


QUICK = Params(n=2)
SEED = 0
SCHEMA = {
    "type": "object",
    "required": ["xs", "ys"],
    "properties": {"xs": {"type": "array"}, "ys": {"type": "array", "items": {"type": "number"}}},
}
SAME_LENGTH = [("xs", "ys")]


def run(params, *, device="cpu", progress=None):
    return helper.make(params.n, params.scale)
'''

HELPER = '''
def make(n, scale):
    return {"xs": list(range(n)), "ys": [scale * i * i for i in range(n)]}
'''


@pytest.fixture
def lab(scratch):
    """A scratch project with one experiment, `squares`, that imports a shared module."""
    common = scratch.experiments / "common"
    common.mkdir()
    (common / "__init__.py").write_text("")
    (common / "helper.py").write_text(HELPER)
    (scratch.experiments / "squares.py").write_text(EXPERIMENT)
    return scratch


def set_helper(lab, body: str) -> None:
    (lab.experiments / "common" / "helper.py").write_text(textwrap.dedent(body))


def test_first_run_writes_results_with_provenance(lab):
    decisions = experiments.refresh(lab)
    assert decisions == [("squares", "re-ran: no results yet", decisions[0][2])]
    document = json.loads((lab.results / "squares.json").read_text())
    assert document["data"] == {"xs": [0, 1, 2, 3], "ys": [0.0, 1.0, 4.0, 9.0]}
    provenance = document["provenance"]
    assert provenance["params"] == {"n": 4, "scale": 1.0}
    assert provenance["seed"] == 0
    assert provenance["device"] == "cpu"
    assert "python" in provenance["versions"]
    assert set(provenance["inputs"]) == {"experiments/squares.py", "experiments/common/helper.py", "experiments/common/__init__.py", "params"}


def test_unchanged_experiment_is_skipped(lab):
    experiments.refresh(lab)
    before = (lab.results / "squares.json").read_bytes()
    assert experiments.refresh(lab) == [("squares", "up to date", None)]
    assert (lab.results / "squares.json").read_bytes() == before


def test_source_edit_reruns(lab):
    experiments.refresh(lab)
    path = lab.experiments / "squares.py"
    path.write_text(path.read_text().replace("n: int = 4", "n: int = 5"))
    [(name, decision, _)] = experiments.refresh(lab)
    assert decision == "re-ran: source changed"
    assert len(json.loads((lab.results / "squares.json").read_text())["data"]["xs"]) == 5


def test_imported_module_edit_reruns(lab):
    experiments.refresh(lab)
    set_helper(lab, HELPER.replace("scale * i * i", "scale * i"))
    [(_, decision, _)] = experiments.refresh(lab)
    assert decision == "re-ran: inputs changed: experiments/common/helper.py"


def test_parameter_override_reruns(lab):
    experiments.refresh(lab)
    lab.params.write_text("squares:\n  scale: 2.0\n")
    [(_, decision, _)] = experiments.refresh(lab)
    assert decision == "re-ran: parameters changed"
    assert json.loads((lab.results / "squares.json").read_text())["data"]["ys"] == [0.0, 2.0, 8.0, 18.0]


def test_parameter_of_wrong_type_names_params_file(lab):
    lab.params.write_text("squares:\n  n: many\n")
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    assert "experiments/params.yaml sets squares.n to many" in caught.value.message
    assert "a whole number like its default 4" in caught.value.message


def test_parameter_rejected_by_experiment_names_params_file(lab):
    (lab.experiments / "squares.py").write_text(
        EXPERIMENT.replace("    scale: float = 1.0\n", "    scale: float = 1.0\n\n    def __post_init__(self):\n        if self.n < 1:\n            raise ValueError(f'n must be 1 or more, got {self.n}')\n")
    )
    lab.params.write_text("squares:\n  n: 0\n")
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    assert "experiments/params.yaml: invalid parameters for squares: n must be 1 or more, got 0" in caught.value.message


def test_params_for_unknown_experiment_are_named(lab):
    lab.params.write_text("sqaures:\n  n: 3\n")
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    assert "sets parameters for sqaures, which is not an experiment; known experiments: squares" in caught.value.message


def test_unknown_parameter_is_named(lab):
    lab.params.write_text("squares:\n  sacle: 2.0\n")
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    assert "sacle" in caught.value.message
    assert "scale" in caught.value.message


def test_force_reruns_current_experiment(lab):
    experiments.refresh(lab)
    [(_, decision, _)] = experiments.refresh(lab, force=True)
    assert decision == "re-ran: forced"


def test_quick_run_writes_nothing(lab):
    document = experiments.run_experiment(lab, "squares", quick=True)
    assert document["data"]["xs"] == [0, 1]
    assert document["provenance"]["quick"] is True
    assert not (lab.results / "squares.json").exists()


@pytest.mark.parametrize(
    "body, expected",
    [
        ("def make(n, scale):\n    return {'xs': [0, 1], 'ys': [0.0, float('nan')]}\n", "nan at ys[1]"),
        ("def make(n, scale):\n    return {'xs': [0, 1], 'ys': [0.0, float('inf')]}\n", "inf at ys[1]"),
        ("def make(n, scale):\n    return {'xs': [0, 1, 2], 'ys': [0.0, 1.0]}\n", "xs has 3, ys has 2"),
        ("def make(n, scale):\n    return {'xs': [0, 1]}\n", "'ys' is a required property"),
        ("def make(n, scale):\n    return {'xs': [0], 'ys': ['one']}\n", "ys[0]"),
    ],
    ids=["nan", "infinity", "mismatched-lengths", "missing-key", "wrong-type"],
)
def test_invalid_output_is_rejected_and_old_results_kept(lab, body, expected):
    experiments.refresh(lab)
    before = (lab.results / "squares.json").read_bytes()
    set_helper(lab, body)
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    assert "squares" in caught.value.message
    assert expected in caught.value.message
    assert (lab.results / "squares.json").read_bytes() == before


def test_raising_experiment_is_named_and_old_results_kept(lab):
    experiments.refresh(lab)
    before = (lab.results / "squares.json").read_bytes()
    set_helper(lab, "def make(n, scale):\n    raise ValueError('corpus is empty')\n")
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab)
    message = caught.value.message
    assert caught.value.code == "experiment-failed"
    assert "experiment squares failed: ValueError: corpus is empty" in message
    assert "experiments/common/helper.py:2 in make" in message
    assert "unchanged" in message
    assert (lab.results / "squares.json").read_bytes() == before
    assert [p.name for p in lab.results.iterdir()] == ["squares.json"]


def test_invalid_results_json_names_file_and_line(lab):
    experiments.refresh(lab)
    path = lab.results / "squares.json"
    lines = path.read_text().splitlines()
    lines[2] = lines[2] + ","
    path.write_text("\n".join(lines[:3] + ["}"]))
    with pytest.raises(LivedeckError) as caught:
        experiments.read_results(lab, "squares")
    assert caught.value.code == "invalid-results"
    assert "experiments/results/squares.json line 3 column" in caught.value.message
    assert "git checkout" in caught.value.message


def test_unknown_experiment_is_named(lab):
    with pytest.raises(LivedeckError) as caught:
        experiments.refresh(lab, ["cubes"])
    assert "experiment cubes not found" in caught.value.message
    assert "squares" in caught.value.message
