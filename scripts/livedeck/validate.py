"""Checks on an experiment's output before it is written: finite numbers, schema, equal lengths."""

import math
from collections.abc import Iterator



from .errors import LivedeckError


def json_path(parts) -> str:
    """Format a sequence of keys and indices as a dotted JSON path, like `training.runs[0].loss`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _walk(value, parts=()) -> Iterator[tuple[tuple, object]]:
    yield parts, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, parts + (key,))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, parts + (index,))


def plain_data(value):
    """Return `value` with tuples and dict, list, int or float subclasses turned into the plain types."""
    if isinstance(value, dict):
        return {key: plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and type(value) not in (int, float):
        return int(value) if isinstance(value, int) else float(value)
    return value


def lookup(data, dotted: str):
    """Return the value at a dotted path such as `training.steps`; raise KeyError naming the missing key."""
    value = data
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(key)
        value = value[key]
    return value


def validate_output(name: str, data, schema: dict | None, same_length: list[tuple[str, ...]]) -> None:
    """Raise LivedeckError naming the experiment and the JSON path of the first problem in `data`."""
    if not isinstance(data, dict):
        raise LivedeckError("invalid-output", f"experiment {name} returned {type(data).__name__}; run() must return a dict of plain data")

    for parts, value in _walk(data):
        if isinstance(value, float) and not math.isfinite(value):
            raise LivedeckError(
                "invalid-output",
                f"experiment {name} returned {value} at {json_path(parts)}; results must be finite numbers. "
                "Check the computation that produces it (a division by zero or a diverged training run).",
            )
        if not isinstance(value, (dict, list, tuple, str, int, float, bool, type(None))):
            raise LivedeckError(
                "invalid-output",
                f"experiment {name} returned a {type(value).__name__} at {json_path(parts)}; "
                "convert it to plain data (for a tensor: .tolist() or float()).",
            )

    if schema is not None:
        import jsonschema  # Imported here because it is slow to import and only experiment runs need it.

        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            raise LivedeckError(
                "invalid-output",
                f"experiment {name} output at {json_path(first.absolute_path)} does not match its SCHEMA: {first.message}",
            )

    for group in same_length:
        lengths = {}
        for dotted in group:
            try:
                value = lookup(data, dotted)
            except KeyError as missing:
                raise LivedeckError("invalid-output", f"experiment {name} output is missing {dotted} (no key {missing})") from None
            if not isinstance(value, (list, tuple)):
                raise LivedeckError("invalid-output", f"experiment {name} output at {dotted} is not a list")
            lengths[dotted] = len(value)
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{path} has {n}" for path, n in lengths.items())
            raise LivedeckError("invalid-output", f"experiment {name} output has lists of mismatched lengths: {described}")
