"""Results data that remembers where it came from, so every chart can name its source.

Values loaded from a results file or `published.yaml` are wrapped in dict and list subclasses that
carry their path (`moe_routing:training.runs.balanced.expert_share`). They behave as plain dicts
and lists in templates and serialise as plain JSON; the chart macro reads `.source` from them.
"""


class TrackedDict(dict):
    source: str


class TrackedList(list):
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
    return value


def _child(source: str, key: str) -> str:
    return f"{source}.{key}" if not source.endswith(":") else f"{source}{key}"


def source_of(value) -> str | None:
    return getattr(value, "source", None)


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
