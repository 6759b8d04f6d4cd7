"""Compatibility of a published event JSON Schema with the one the code now generates (pure: no I/O).

Two directions are checked:

* forward — data valid under ``candidate`` (what producers will now write) must be readable by a consumer built
  against ``published``;
* backward — old data valid under ``published`` must be readable by a consumer built against ``candidate``
  (if not, an upcaster is needed and the change is still reported, so that bumping the version is a decision).

Consumers ignore unknown fields (payload models use ``extra="ignore"``), so adding an optional property is
compatible. The comparison understands what pydantic v2's ``model_json_schema()`` emits: local ``$ref``s into
``$defs`` (siblings of a ``$ref`` override the target), ``allOf`` wrappers, nested objects, ``items`` and
``prefixItems``, ``anyOf``/``oneOf`` unions (``Optional`` is ``anyOf: [{type: X}, {type: null}]``), ``enum``/``const``,
``format``, and the length, range, pattern and ``additionalProperties`` constraints. Any other validation keyword
that differs is reported too (fail closed); annotations (``title``, ``description``, ``examples``, ``default``,
``$id``, ``x-*``, ...) never are.

Two deliberate leniencies, both from the contract this check enforces:

* adding ``null`` to the type of a property that was optional for old consumers is not reported;
* a property that becomes required is not reported when the candidate gives it a ``default``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

__all__ = ["breaking_changes"]

Schema = dict[str, Any]

# Keywords that describe but never reject: differences in them are compatible.
_ANNOTATIONS: Final = frozenset(
    {
        "$anchor",
        "$comment",
        "$defs",
        "$id",
        "$schema",
        "default",
        "definitions",
        "deprecated",
        "description",
        "discriminator",
        "example",
        "examples",
        "readOnly",
        "title",
        "writeOnly",
    }
)

# Keywords this module compares explicitly; anything else that differs is reported as-is.
_HANDLED: Final = frozenset(
    {
        "$ref",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "oneOf",
        "pattern",
        "prefixItems",
        "properties",
        "required",
        "type",
        "uniqueItems",
    }
)

# Display order of JSON types in messages.
_KIND_ORDER: Final = ("object", "array", "string", "integer", "number", "boolean", "null", "any", "never")

_TIGHTER: Final = "old data may violate it"
_LOOSER: Final = "old consumers may reject new data"


def breaking_changes(published: dict[str, Any], candidate: dict[str, Any], *, root: str = "payload") -> list[str]:
    """Ways in which data valid under `candidate` (what producers will now write) could not be read
    by a consumer built against `published`, plus ways old data (valid under `published`) could not be read by a
    consumer built against `candidate`. Empty list = compatible. Each string names the JSON path and the problem,
    e.g. "payload.amount_satang: type changed from integer to string".

    `root` names the schema's top level in those paths. Only local `$ref`s ("#/...") are followed; any other
    raises ValueError.
    """
    if not isinstance(published, Mapping) or not isinstance(candidate, Mapping):
        raise TypeError("schemas must be JSON objects (dicts)")
    comparison = _Comparison(old_root=dict(published), new_root=dict(candidate))
    comparison.schema(root, published, candidate, required_for_old=True)
    return list(dict.fromkeys(comparison.problems))


# --- resolving schemas -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Alternative:
    """One non-union alternative of a schema: its JSON type ("any" if unconstrained), keywords, and $defs name."""

    kind: str
    schema: Schema
    ref: str | None


def _pointer(root: Schema, ref: str) -> Any:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = root
    fragment = unquote(ref[1:])
    if not fragment:
        return node
    if not fragment.startswith("/"):
        raise ValueError(f"unsupported $ref {ref!r} (expected a JSON pointer)")
    for raw in fragment[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ValueError(f"unresolvable $ref {ref!r}") from None
    return node


def _as_schema(schema: Any) -> Schema:
    if schema is True or schema is None:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, Mapping):
        raise TypeError(f"not a schema: {schema!r}")
    return dict(schema)


def _merge(base: Schema, extra: Schema) -> Schema:
    """`base` plus `extra`'s keywords (an allOf member): properties and required are unioned, `base` wins otherwise."""
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties":
            merged[key] = {**value, **merged.get(key, {})}
        elif key == "required":
            merged[key] = list(dict.fromkeys([*merged.get(key, []), *value]))
        else:
            merged.setdefault(key, value)
    return merged


def _resolve(root: Schema, schema: Any) -> tuple[Schema, str | None]:
    """`schema` with $refs followed and allOf merged, and the name of the last $defs entry followed (if any)."""
    node = _as_schema(schema)
    name: str | None = None
    seen: set[str] = set()
    while "$ref" in node:
        ref = node.pop("$ref")
        if ref in seen:
            raise ValueError(f"circular $ref {ref!r}")
        seen.add(ref)
        name = ref.rsplit("/", 1)[-1]
        node = {**_as_schema(_pointer(root, ref)), **node}  # keywords beside a $ref override the target's
    if "allOf" in node:
        members = node.pop("allOf")
        for member in members:
            resolved, member_name = _resolve(root, member)
            node = _merge(node, resolved)
            name = name or member_name
    return node, name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fits(value: Any, kind: str) -> bool:
    actual = _json_type(value)
    return actual == kind or (kind == "number" and actual == "integer")


def _enum_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _split(schema: Schema, ref: str | None) -> list[_Alternative]:
    """A union-free schema as one alternative per JSON type it admits."""
    declared = schema.get("type")
    values = _enum_values(schema)
    if isinstance(declared, str):
        kinds = [declared]
    elif isinstance(declared, list):
        kinds = list(dict.fromkeys(declared))
    elif values is not None:
        kinds = list(dict.fromkeys(_json_type(value) for value in values))
    elif schema.get("not") == {}:
        kinds = ["never"]
    elif any(key in schema for key in ("properties", "additionalProperties", "required", "patternProperties")):
        kinds = ["object"]
    elif "items" in schema or "prefixItems" in schema:
        kinds = ["array"]
    else:
        kinds = ["any"]
    if len(kinds) == 1:
        return [_Alternative(kinds[0], schema, ref)]
    alternatives = []
    for kind in kinds:
        narrowed = {**schema, "type": kind}
        if values is not None:
            narrowed.pop("const", None)
            narrowed["enum"] = [value for value in values if _fits(value, kind)]
        alternatives.append(_Alternative(kind, narrowed, ref))
    return alternatives


def _alternatives(root: Schema, schema: Any, inherited: Schema | None = None) -> list[_Alternative]:
    """The union-free alternatives of `schema` (anyOf/oneOf flattened, keywords beside them passed down)."""
    node, ref = _resolve(root, schema)
    if inherited:
        node = {**inherited, **node}
    for union in ("anyOf", "oneOf"):
        if union in node:
            shared = {key: value for key, value in node.items() if key not in ("anyOf", "oneOf")}
            return [alt for member in node[union] for alt in _alternatives(root, member, shared)]
    return _split(node, ref)


def _has_default(root: Schema, schema: Any) -> bool:
    return "default" in _resolve(root, schema)[0]


# --- formatting --------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _show_values(values: Iterable[Any]) -> str:
    return ", ".join(_show(value) for value in values)


def _show_kinds(kinds: Iterable[str]) -> str:
    def order(kind: str) -> tuple[int, str]:
        return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), kind)

    return " | ".join(sorted(kinds, key=order))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --- numeric bounds ----------------------------------------------------------------------------------------------

_Bound = tuple[float, bool]  # (limit, exclusive)


def _lower_bound(schema: Schema, integer: bool) -> _Bound | None:
    candidates: list[_Bound] = []
    exclusive = schema.get("exclusiveMinimum")
    if "minimum" in schema:
        candidates.append((schema["minimum"], exclusive is True))
    if isinstance(exclusive, (int, float)) and not isinstance(exclusive, bool):
        candidates.append((exclusive, True))
    if integer:  # on integers "> 0" is ">= 1"
        candidates = [(math.floor(v) + 1 if excl else math.ceil(v), False) for v, excl in candidates]
    return max(candidates, key=lambda bound: (bound[0], bound[1]), default=None)


def _upper_bound(schema: Schema, integer: bool) -> _Bound | None:
    candidates: list[_Bound] = []
    exclusive = schema.get("exclusiveMaximum")
    if "maximum" in schema:
        candidates.append((schema["maximum"], exclusive is True))
    if isinstance(exclusive, (int, float)) and not isinstance(exclusive, bool):
        candidates.append((exclusive, True))
    if integer:
        candidates = [(math.ceil(v) - 1 if excl else math.floor(v), False) for v, excl in candidates]
    return min(candidates, key=lambda bound: (bound[0], not bound[1]), default=None)


def _show_bound(bound: _Bound, lower: bool) -> str:
    limit, exclusive = bound
    operator = (">" if lower else "<") + ("" if exclusive else "=")
    return f"{operator} {_show(limit)}"


# --- the comparison ----------------------------------------------------------------------------------------------


@dataclass
class _Comparison:
    old_root: Schema
    new_root: Schema
    problems: list[str] = field(default_factory=list)
    _in_progress: set[tuple[str, str]] = field(default_factory=set)

    def report(self, path: str, problem: str) -> None:
        self.problems.append(f"{path}: {problem}")

    def schema(self, path: str, old: Any, new: Any, *, required_for_old: bool) -> None:
        """Compare two schemas for the value at `path`; `required_for_old` = old consumers always saw a value."""
        old_alts = _alternatives(self.old_root, old)
        new_alts = _alternatives(self.new_root, new)
        old_kinds = {alt.kind for alt in old_alts}
        new_kinds = {alt.kind for alt in new_alts}
        lost = old_kinds - new_kinds
        gained = new_kinds - old_kinds
        if not required_for_old:
            gained -= {"null"}  # an optional property that may now be null: allowed by the contract
        if lost and gained:
            self.report(path, f"type changed from {_show_kinds(old_kinds)} to {_show_kinds(new_kinds)}")
        elif lost:
            self.report(
                path,
                f"type narrowed from {_show_kinds(old_kinds)} to {_show_kinds(new_kinds)} "
                "(old data may not be readable)",
            )
        elif gained:
            self.report(
                path,
                f"type widened from {_show_kinds(old_kinds)} to {_show_kinds(new_kinds)} "
                "(old consumers may not read new data)",
            )
        common = old_kinds & new_kinds
        for kind in [kind for kind in _KIND_ORDER if kind in common] + sorted(common - set(_KIND_ORDER)):
            olds = [alt for alt in old_alts if alt.kind == kind]
            news = [alt for alt in new_alts if alt.kind == kind]
            self._same_kind(path, kind, olds, news)

    def _same_kind(self, path: str, kind: str, olds: list[_Alternative], news: list[_Alternative]) -> None:
        if len(olds) == 1 and len(news) == 1:
            self._alternative(path, kind, olds[0], news[0])
            return
        discriminators = list(dict.fromkeys(name for alt in [*olds, *news] if (name := _discriminator(alt))))
        old_by_key = _keyed(self.old_root, olds, discriminators)
        new_by_key = _keyed(self.new_root, news, discriminators)
        for key in old_by_key.keys() - new_by_key.keys():
            self.report(path, f"union alternative {key} removed (old data may not be readable)")
        for key in new_by_key.keys() - old_by_key.keys():
            self.report(path, f"union alternative {key} added (old consumers may not read new data)")
        for key in old_by_key.keys() & new_by_key.keys():
            self._alternative(f"{path}<{key}>", kind, old_by_key[key], new_by_key[key])

    def _alternative(self, path: str, kind: str, old: _Alternative, new: _Alternative) -> None:
        guard = (old.ref, new.ref) if old.ref is not None and new.ref is not None else None
        if guard is not None:
            if guard in self._in_progress:  # a recursive model: this pair is already being compared further up
                return
            self._in_progress.add(guard)
        try:
            o, n = old.schema, new.schema
            self._enum(path, o, n)
            self._format(path, o, n)
            self._pattern(path, o, n)
            for keyword, lower in (
                ("minLength", True),
                ("maxLength", False),
                ("minItems", True),
                ("maxItems", False),
                ("minProperties", True),
                ("maxProperties", False),
            ):
                self._count_bound(path, keyword, o.get(keyword), n.get(keyword), lower=lower)
            self._numeric_bounds(path, kind == "integer", o, n)
            before, after = o.get("multipleOf"), n.get("multipleOf")
            if _canonical(before) != _canonical(after):
                self.report(path, f"multipleOf changed from {_show(before)} to {_show(after)}")
            if bool(o.get("uniqueItems")) != bool(n.get("uniqueItems")):
                self.report(
                    path,
                    f"uniqueItems {'added' if n.get('uniqueItems') else 'removed'} "
                    f"({_TIGHTER if n.get('uniqueItems') else _LOOSER})",
                )
            if kind == "object":
                self._object(path, o, n)
            elif kind == "array":
                self._array(path, o, n)
            self._other_keywords(path, o, n)
        finally:
            if guard is not None:
                self._in_progress.discard(guard)

    def _enum(self, path: str, old: Schema, new: Schema) -> None:
        old_values = _enum_values(old)
        new_values = _enum_values(new)
        if old_values is None and new_values is None:
            return
        if old_values is None:
            self.report(path, f"enum constraint added: only {_show_values(new_values or [])} allowed ({_TIGHTER})")
            return
        if new_values is None:
            self.report(path, f"enum constraint removed: old consumers accept only {_show_values(old_values)}")
            return
        old_keys = {_canonical(value) for value in old_values}
        new_keys = {_canonical(value) for value in new_values}
        removed = [value for value in old_values if _canonical(value) not in new_keys]
        added = [value for value in new_values if _canonical(value) not in old_keys]
        if removed:
            self.report(path, f"enum values removed: {_show_values(removed)} (old data may hold them)")
        if added:
            self.report(path, f"enum values added: {_show_values(added)} (old consumers cannot read them)")

    def _format(self, path: str, old: Schema, new: Schema) -> None:
        before, after = old.get("format"), new.get("format")
        if before == after:
            return
        if before is None:
            self.report(path, f"format {after} added ({_TIGHTER})")
        elif after is None:
            self.report(path, f"format {before} removed (old consumers expect {before})")
        else:
            self.report(path, f"format changed from {before} to {after}")

    def _pattern(self, path: str, old: Schema, new: Schema) -> None:
        before, after = old.get("pattern"), new.get("pattern")
        if before == after:
            return
        if before is None:
            self.report(path, f"pattern '{after}' added ({_TIGHTER})")
        elif after is None:
            self.report(path, f"pattern '{before}' removed ({_LOOSER})")
        else:
            self.report(path, f"pattern changed from '{before}' to '{after}' (old or new data may not match the other)")

    def _count_bound(self, path: str, keyword: str, before: Any, after: Any, *, lower: bool) -> None:
        if before == after:
            return
        if before is None:
            self.report(path, f"{keyword} {_show(after)} added ({_TIGHTER})")
        elif after is None:
            self.report(path, f"{keyword} {_show(before)} removed ({_LOOSER})")
        else:
            tighter = after > before if lower else after < before
            verb = "increased" if after > before else "reduced"
            self.report(
                path, f"{keyword} {verb} from {_show(before)} to {_show(after)} ({_TIGHTER if tighter else _LOOSER})"
            )

    def _numeric_bounds(self, path: str, integer: bool, old: Schema, new: Schema) -> None:
        for name, lower, bound_of in (("minimum", True, _lower_bound), ("maximum", False, _upper_bound)):
            before, after = bound_of(old, integer), bound_of(new, integer)
            if before == after:
                continue
            if before is None and after is not None:
                self.report(path, f"{name} {_show_bound(after, lower)} added ({_TIGHTER})")
            elif after is None and before is not None:
                self.report(path, f"{name} {_show_bound(before, lower)} removed ({_LOOSER})")
            elif before is not None and after is not None:
                if lower:
                    tighter = (after[0], after[1]) > (before[0], before[1])
                else:
                    tighter = (after[0], not after[1]) < (before[0], not before[1])
                verb = "increased" if tighter == lower else "reduced"
                self.report(
                    path,
                    f"{name} {verb} from {_show_bound(before, lower)} to {_show_bound(after, lower)} "
                    f"({_TIGHTER if tighter else _LOOSER})",
                )

    def _object(self, path: str, old: Schema, new: Schema) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        old_extra = _additional(old)
        new_extra = _additional(new)
        names = list(dict.fromkeys([*old_props, *old.get("required", []), *new_props, *new.get("required", [])]))
        for name in names:
            at = f"{path}.{name}"
            was_required, now_required = name in old_required, name in new_required
            in_old = name in old_props or was_required
            in_new = name in new_props or now_required
            if in_old and not in_new:
                if was_required:
                    self.report(at, "required property removed (old consumers need it)")
                elif new_extra is False:
                    self.report(
                        at, "property removed while additionalProperties is false (old data carrying it is rejected)"
                    )
                continue
            if now_required and not was_required and not _has_default(self.new_root, new_props.get(name, {})):
                what = "new required property" if not in_old else "became required"
                self.report(at, f"{what} without a default (old events may lack it: needs an upcaster)")
            if not in_old:
                if old_extra is False:
                    self.report(at, f"new property not allowed by published additionalProperties: false ({_LOOSER})")
                continue
            if was_required and not now_required:
                self.report(at, "became optional (old consumers require it)")
            self.schema(at, old_props.get(name, {}), new_props.get(name, {}), required_for_old=was_required)
        self._additional_properties(path, old_extra, new_extra)

    def _additional_properties(self, path: str, old: Any, new: Any) -> None:
        if (old is True and new is True) or (old is False and new is False):
            return
        if isinstance(old, dict) and isinstance(new, dict):
            self.schema(f"{path}.*", old, new, required_for_old=True)
        elif old is True and new is False:
            self.report(path, "additionalProperties: false added (old data with extra fields is rejected)")
        elif old is False and new is True:
            self.report(path, "additionalProperties: false removed (old consumers reject unknown fields)")
        else:
            self.report(path, f"additionalProperties changed from {_show(old)} to {_show(new)}")

    def _array(self, path: str, old: Schema, new: Schema) -> None:
        if "items" in old or "items" in new:
            self.schema(f"{path}[]", old.get("items", {}), new.get("items", {}), required_for_old=True)
        old_prefix: list[Any] = old.get("prefixItems", [])
        new_prefix: list[Any] = new.get("prefixItems", [])
        for index in range(max(len(old_prefix), len(new_prefix))):
            at = f"{path}[{index}]"
            if index >= len(new_prefix):
                self.report(at, "tuple position removed (old consumers need it)")
            elif index >= len(old_prefix):
                self.report(at, "tuple position added (old data lacks it)")
            else:
                self.schema(at, old_prefix[index], new_prefix[index], required_for_old=True)

    def _other_keywords(self, path: str, old: Schema, new: Schema) -> None:
        for keyword in sorted(old.keys() | new.keys()):
            if keyword in _HANDLED or keyword in _ANNOTATIONS or keyword.startswith("x-"):
                continue
            before, after = old.get(keyword), new.get(keyword)
            if _canonical(before) != _canonical(after):
                self.report(path, f"{keyword} changed from {_show(before)} to {_show(after)}")


def _additional(schema: Schema) -> Any:
    """additionalProperties as True (anything), False (forbidden) or a schema."""
    extra = schema.get("additionalProperties", True)
    if extra is True or extra == {}:
        return True
    return extra


def _discriminator(alt: _Alternative) -> str | None:
    discriminator = alt.schema.get("discriminator")
    name = discriminator.get("propertyName") if isinstance(discriminator, Mapping) else None
    return name if isinstance(name, str) else None


def _keyed(root: Schema, alternatives: list[_Alternative], discriminators: list[str]) -> dict[str, _Alternative]:
    """Union alternatives of one JSON type, keyed so that reordering or renaming models does not matter: by
    discriminator value (pydantic's discriminated unions, on either side), else by $defs name or title, else by
    position."""
    keyed: dict[str, _Alternative] = {}
    for index, alt in enumerate(alternatives):
        key = _discriminator_key(root, alt, discriminators) or alt.ref or alt.schema.get("title")
        key = key or f"{alt.kind}#{index}"
        if key in keyed:
            key = f"{key}#{index}"
        keyed[key] = alt
    return keyed


def _discriminator_key(root: Schema, alt: _Alternative, discriminators: list[str]) -> str | None:
    properties = alt.schema.get("properties", {})
    for name in discriminators:
        if name not in properties:
            continue
        values = _enum_values(_resolve(root, properties[name])[0])
        if values is not None and len(values) == 1:
            value = values[0]
            return f"{name}={value if isinstance(value, str) else _show(value)}"
    return None
