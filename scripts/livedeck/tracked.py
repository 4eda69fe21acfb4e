"""Results data that remembers where it came from, so every chart can name its source.

Values loaded from a results file or `published.yaml` are wrapped in dict, list, int and float
subclasses that carry their path (`moe_routing:training.runs.balanced.expert_share`). They behave
as plain values in templates and serialise as plain JSON; the chart macro reads `.source` from
them. A number keeps its source only until arithmetic makes a new number from it, so a chart of
computed values has no source and the deck check rejects it.
"""


class TrackedDict(dict):
    source: str


class TrackedList(list):
    source: str


class TrackedInt(int):
    source: str


class TrackedFloat(float):
    source: str


def track(value, source: str):
    """Return `value` with every dict and list inside it wrapped and labelled with its path."""
    if isinstance(value, dict):
        wrapped = TrackedDict({key: track(item, _child(source, key)) for key, item in value.items()})
        wrapped.source = source
        return wrapped
    if isinstance(value, list):
        wrapped = TrackedList(track(item, f"{source}[{index}]") for index, item in enumerate(value))
        wrapped.source = source
        return wrapped
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        wrapped = (TrackedInt if isinstance(value, int) else TrackedFloat)(value)
        wrapped.source = source
        return wrapped
    return value


def _child(source: str, key: str) -> str:
    return f"{source}.{key}" if not source.endswith(":") else f"{source}{key}"


def source_of(value):
    """Return where chart data came from: a path, a list of {"x": path, "y": path} for point data, or None.

    Point data (scatter and bubble charts) is a list of {"x": ..., "y": ...} objects written in the
    template, each coordinate read from results, so each point records the paths of both.
    """
    source = getattr(value, "source", None)
    if source is not None:
        return source
    if isinstance(value, list) and value and all(isinstance(point, dict) and "x" in point and "y" in point for point in value):
        points = [{axis: getattr(point[axis], "source", None) for axis in ("x", "y")} for point in value]
        if all(path is not None for point in points for path in point.values()):
            return points
    return None


def resolve(documents: dict, source: str):
    """Return the value a source path names, from `documents` mapping a file key to its data.

    The inverse of `track`: `resolve({"moe_routing": data}, "moe_routing:training.steps")`.
    """
    key, _, path = source.partition(":")
    value = documents[key]
    for part in _split(path):
        value = value[part]
    return value


def _split(path: str):
    for piece in path.split("."):
        if not piece:
            continue
        name, _, rest = piece.partition("[")
        if name:
            yield name
        while rest:
            index, _, rest = rest.partition("]")
            yield int(index)
            rest = rest[1:] if rest.startswith("[") else rest
