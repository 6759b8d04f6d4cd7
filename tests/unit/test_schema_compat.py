"""libs.events.schema_compat: every rule, exercised on schemas pydantic v2 generates from v1 / v2 models.

v2 models often subclass v1 and re-declare a field with another type: that is the change under test, hence the
`type: ignore[assignment]`s.
"""

import copy
import enum
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.events.schema_compat import breaking_changes


class Payload(BaseModel):
    """Like libs.events.envelope.EventPayload: consumers ignore unknown fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """As the registry publishes it: serialization mode, plus the registry's own top-level keys."""
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:sajja:event:test.{model.__name__}"
    schema["x-schema-version"] = model.__name__
    return schema


def changes(published: type[BaseModel], candidate: type[BaseModel]) -> list[str]:
    return breaking_changes(schema_of(published), schema_of(candidate))


def only(problems: list[str], path: str, *fragments: str) -> str:
    """The single problem reported, checked to be at `path` and to mention every fragment."""
    assert len(problems) == 1, problems
    [problem] = problems
    assert problem.startswith(f"{path}: "), problem
    for fragment in fragments:
        assert fragment in problem, problem
    return problem


# --- a realistic payload and variants that must stay compatible -----------------------------------------------


class Line(Payload):
    amount_satang: int = Field(gt=0)
    memo: str | None = None


class Cat(Payload):
    kind: Literal["cat"]
    lives: int


class Dog(Payload):
    kind: Literal["dog"]
    good: bool


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Node(Payload):
    value: int
    children: list["Node"] = Field(default_factory=list)


class Deposit(Payload):
    transaction_id: uuid.UUID
    account: Literal["sajja", "special"]
    kind: Literal["deposit"]
    amount_satang: int = Field(gt=0, le=10_000_000)
    deposited_on: date
    reference: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")
    note: str | None = None
    lines: list[Line] = Field(default_factory=list)
    parent: Line | None = None
    tags: dict[str, int] = Field(default_factory=dict)
    pair: tuple[int, str] = (0, "")
    codes: set[int] = Field(default_factory=set)
    colour: Colour = Colour.RED
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    tree: Node | None = None


def test_a_schema_is_compatible_with_itself_and_with_a_copy() -> None:
    published = schema_of(Deposit)
    assert breaking_changes(published, published) == []
    assert breaking_changes(published, copy.deepcopy(published)) == []


def test_the_realistic_payload_exercises_refs_unions_enums_formats_and_constraints() -> None:
    """Guards the other tests: the generated schema really has the constructs they rely on."""
    schema = schema_of(Deposit)
    props = schema["properties"]
    assert props["account"] == {"enum": ["sajja", "special"], "title": "Account", "type": "string"}
    assert props["kind"]["const"] == "deposit"
    assert props["deposited_on"]["format"] == "date"
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["parent"]["anyOf"][0] == {"$ref": "#/$defs/Line"}
    assert props["colour"]["$ref"] == "#/$defs/Colour"
    assert "oneOf" in props["pet"]
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}


def test_adding_an_optional_property_is_compatible() -> None:
    class DepositV2(Deposit):
        channel: Literal["counter", "app"] | None = None
        branch_code: str = "0001"

    assert changes(Deposit, DepositV2) == []


def test_titles_descriptions_examples_and_docstrings_are_compatible() -> None:
    class DepositV2(Deposit):
        """A deposit into a member's savings account."""

        amount_satang: int = Field(gt=0, le=10_000_000, title="Amount", description="in satang", examples=[100, 2500])
        note: str | None = Field(default=None, description="free text", examples=["cash"])

    schema = schema_of(DepositV2)
    assert schema["properties"]["amount_satang"]["examples"] == [100, 2500]
    assert schema["description"].startswith("A deposit")
    assert changes(Deposit, DepositV2) == []


def test_reordering_fields_union_members_and_enum_values_is_compatible() -> None:
    class V1(Payload):
        a: int
        b: str | None = None
        c: Literal["x", "y"]
        d: int | str

    class V2(Payload):
        d: str | int
        c: Literal["y", "x"]
        b: None | str = None
        a: int

    assert schema_of(V1)["properties"]["d"] != schema_of(V2)["properties"]["d"]
    assert changes(V1, V2) == []


def test_renaming_nested_and_union_models_is_compatible() -> None:
    class LineRenamed(Payload):
        amount_satang: int = Field(gt=0)
        memo: str | None = None

    class Kitten(Payload):
        kind: Literal["cat"]
        lives: int

    class Puppy(Payload):
        kind: Literal["dog"]
        good: bool

    class DepositV2(Deposit):
        lines: list[LineRenamed] = Field(default_factory=list)  # type: ignore[assignment]
        parent: LineRenamed | None = None  # type: ignore[assignment]
        pet: Annotated[Puppy | Kitten, Field(discriminator="kind")]  # type: ignore[assignment]

    assert "LineRenamed" in schema_of(DepositV2)["$defs"]
    assert changes(Deposit, DepositV2) == []


def test_gt_and_ge_that_mean_the_same_integers_are_compatible() -> None:
    class V1(Payload):
        amount_satang: int = Field(gt=0, lt=101)

    class V2(Payload):
        amount_satang: int = Field(ge=1, le=100)

    assert changes(V1, V2) == []


def test_a_required_property_with_a_default_is_compatible() -> None:
    """With json_schema_serialization_defaults_required, defaulted fields are listed as required (with a default)."""

    class V1(Payload):
        model_config = ConfigDict(json_schema_serialization_defaults_required=True)
        a: int

    class V2(V1):
        b: int = 0

    assert "b" in schema_of(V2)["required"]
    assert changes(V1, V2) == []


# --- required / optional ------------------------------------------------------------------------------------------


def test_removing_a_required_property_is_breaking() -> None:
    class V1(Payload):
        amount_satang: int
        balance_after_satang: int

    class V2(Payload):
        amount_satang: int

    assert changes(V1, V2) == ["payload.balance_after_satang: required property removed (old consumers need it)"]


def test_a_required_property_becoming_optional_is_breaking() -> None:
    class V1(Payload):
        deposited_on: date

    class V2(Payload):
        deposited_on: date | None = None

    problems = changes(V1, V2)
    assert "payload.deposited_on: became optional (old consumers require it)" in problems
    # ...and it may now be null, which old consumers cannot read either
    assert any(p.startswith("payload.deposited_on: type widened from string to string | null") for p in problems)


def test_removing_an_optional_property_is_compatible() -> None:
    class V1(Payload):
        amount_satang: int
        note: str | None = None

    class V2(Payload):
        amount_satang: int

    assert changes(V1, V2) == []


def test_a_new_required_property_without_default_is_breaking() -> None:
    class V1(Payload):
        amount_satang: int

    class V2(Payload):
        amount_satang: int
        currency: str

    only(changes(V1, V2), "payload.currency", "new required property without a default", "upcaster")


def test_an_optional_property_becoming_required_is_breaking() -> None:
    class V1(Payload):
        note: str = ""

    class V2(Payload):
        note: str

    only(changes(V1, V2), "payload.note", "became required without a default")


# --- types --------------------------------------------------------------------------------------------------------


class Money(Payload):
    amount_satang: int


def test_integer_to_string_is_breaking() -> None:
    class MoneyV2(Payload):
        amount_satang: str

    assert changes(Money, MoneyV2) == ["payload.amount_satang: type changed from integer to string"]


def test_string_to_integer_is_breaking() -> None:
    class MoneyV2(Payload):
        amount_satang: str

    assert changes(MoneyV2, Money) == ["payload.amount_satang: type changed from string to integer"]


def test_widening_integer_to_number_is_breaking() -> None:
    class MoneyV2(Payload):
        amount_satang: float

    assert changes(Money, MoneyV2) == ["payload.amount_satang: type changed from integer to number"]


def test_object_to_array_is_breaking() -> None:
    class V1(Payload):
        line: Line

    class V2(Payload):
        line: list[Line]

    only(changes(V1, V2), "payload.line", "type changed from object to array")


def test_narrowing_a_union_is_breaking() -> None:
    class V1(Payload):
        ref: int | str

    class V2(Payload):
        ref: int

    only(changes(V1, V2), "payload.ref", "type narrowed from string | integer to integer")


def test_widening_a_union_is_breaking() -> None:
    class V1(Payload):
        ref: int

    class V2(Payload):
        ref: int | str

    only(changes(V1, V2), "payload.ref", "type widened from integer to string | integer")


def test_removing_null_is_breaking_even_for_an_optional_property() -> None:
    class V1(Payload):
        note: str | None = None

    class V2(Payload):
        note: str = ""

    only(changes(V1, V2), "payload.note", "type narrowed from string | null to string")


def test_adding_null_to_a_required_property_is_breaking() -> None:
    class V1(Payload):
        amount_satang: int

    class V2(Payload):
        amount_satang: int | None  # still required, but may now be null

    assert changes(V1, V2) == [
        "payload.amount_satang: type widened from integer to integer | null (old consumers may not read new data)"
    ]


def test_adding_null_to_an_optional_property_is_compatible() -> None:
    class V1(Payload):
        note: str = ""

    class V2(Payload):
        note: str | None = None

    assert changes(V1, V2) == []


# --- enum / const ---------------------------------------------------------------------------------------------------


class Account(Payload):
    account: Literal["sajja", "special"]


class SajjaOnly(Payload):
    account: Literal["sajja"]


def test_literal_losing_a_value_is_breaking() -> None:
    assert schema_of(SajjaOnly)["properties"]["account"]["const"] == "sajja"
    assert changes(Account, SajjaOnly) == ['payload.account: enum values removed: "special" (old data may hold them)']


def test_literal_gaining_a_value_is_breaking() -> None:
    assert changes(SajjaOnly, Account) == [
        'payload.account: enum values added: "special" (old consumers cannot read them)'
    ]


def test_enum_class_gaining_a_member_is_breaking() -> None:
    class ColourV2(enum.Enum):
        RED = "red"
        GREEN = "green"
        BLUE = "blue"

    class V1(Payload):
        colour: Colour

    class V2(Payload):
        colour: ColourV2

    only(changes(V1, V2), "payload.colour", 'enum values added: "blue"')


def test_constraining_a_string_to_a_literal_is_breaking_and_so_is_the_reverse() -> None:
    class Free(Payload):
        account: str

    only(changes(Free, Account), "payload.account", "enum constraint added")
    only(changes(Account, Free), "payload.account", "enum constraint removed")


# --- format ---------------------------------------------------------------------------------------------------------


class OnDate(Payload):
    deposited_on: date


def test_date_to_datetime_is_breaking() -> None:
    class V2(Payload):
        deposited_on: datetime

    assert changes(OnDate, V2) == ["payload.deposited_on: format changed from date to date-time"]


def test_dropping_or_adding_a_format_is_breaking() -> None:
    class Text(Payload):
        deposited_on: str

    only(changes(OnDate, Text), "payload.deposited_on", "format date removed")
    only(changes(Text, OnDate), "payload.deposited_on", "format date added")


def test_uuid_to_plain_string_is_breaking() -> None:
    class V1(Payload):
        group_id: uuid.UUID

    class V2(Payload):
        group_id: str

    only(changes(V1, V2), "payload.group_id", "format uuid removed")


# --- constraints ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation_v1", "annotation_v2", "expected"),
    [
        (Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=16)], "maxLength reduced from 32 to 16"),
        (Annotated[str, Field(min_length=1)], Annotated[str, Field(min_length=3)], "minLength increased from 1 to 3"),
        (Annotated[str, Field()], Annotated[str, Field(max_length=16)], "maxLength 16 added"),
        (Annotated[int, Field(le=1000)], Annotated[int, Field(le=500)], "maximum reduced from <= 1000 to <= 500"),
        (Annotated[int, Field(ge=0)], Annotated[int, Field(ge=1)], "minimum increased from >= 0 to >= 1"),
        (Annotated[int, Field(gt=0)], Annotated[int, Field(gt=5)], "minimum increased from >= 1 to >= 6"),
        (Annotated[int, Field()], Annotated[int, Field(ge=0)], "minimum >= 0 added"),
        (Annotated[float, Field(ge=0)], Annotated[float, Field(gt=0)], "minimum increased from >= 0 to > 0"),
        (Annotated[str, Field()], Annotated[str, Field(pattern=r"^\d{2}$")], r"pattern '^\d{2}$' added"),
        (Annotated[list[int], Field(max_length=5)], Annotated[list[int], Field(max_length=3)], "maxItems reduced"),
        (Annotated[list[int], Field()], Annotated[set[int], Field()], "uniqueItems added"),
    ],
)
def test_tightening_a_constraint_is_breaking(annotation_v1: Any, annotation_v2: Any, expected: str) -> None:
    class V1(Payload):
        value: annotation_v1

    class V2(Payload):
        value: annotation_v2

    only(changes(V1, V2), "payload.value", expected, "old data may violate it")


@pytest.mark.parametrize(
    ("annotation_v1", "annotation_v2", "expected"),
    [
        (Annotated[str, Field(max_length=16)], Annotated[str, Field(max_length=32)], "maxLength increased"),
        (Annotated[int, Field(ge=1)], Annotated[int, Field(ge=0)], "minimum reduced"),
        (Annotated[int, Field(le=500)], Annotated[int, Field()], "maximum <= 500 removed"),
        (Annotated[str, Field(pattern=r"^\d{2}$")], Annotated[str, Field()], r"pattern '^\d{2}$' removed"),
    ],
)
def test_loosening_a_constraint_is_breaking_for_old_consumers(
    annotation_v1: Any, annotation_v2: Any, expected: str
) -> None:
    """Old consumers validate with the old limit: new data outside it is unreadable to them."""

    class V1(Payload):
        value: annotation_v1

    class V2(Payload):
        value: annotation_v2

    only(changes(V1, V2), "payload.value", expected, "old consumers may reject new data")


def test_changing_a_pattern_is_breaking() -> None:
    class V1(Payload):
        province_code: str = Field(pattern=r"^\d{2}$")

    class V2(Payload):
        province_code: str = Field(pattern=r"^\d{2,3}$")

    only(changes(V1, V2), "payload.province_code", r"pattern changed from '^\d{2}$' to '^\d{2,3}$'")


def test_constraints_inside_an_optional_are_compared() -> None:
    class V1(Payload):
        subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")

    class V2(Payload):
        subdistrict_code: str | None = Field(default=None, pattern=r"^\d{5}$")

    only(changes(V1, V2), "payload.subdistrict_code", "pattern changed")


# --- additionalProperties -------------------------------------------------------------------------------------------


class Open(Payload):
    a: int


class Closed(Payload):
    model_config = ConfigDict(extra="forbid")
    a: int


def test_forbidding_extra_fields_is_breaking() -> None:
    assert schema_of(Closed)["additionalProperties"] is False
    only(changes(Open, Closed), "payload", "additionalProperties: false added")


def test_allowing_extra_fields_after_forbidding_them_is_breaking() -> None:
    only(changes(Closed, Open), "payload", "additionalProperties: false removed")


def test_a_new_optional_property_is_breaking_when_the_published_schema_forbids_extras() -> None:
    class ClosedV2(Closed):
        b: int | None = None

    only(changes(Closed, ClosedV2), "payload.b", "new property not allowed")


def test_forbidding_extra_fields_in_a_nested_model_is_breaking() -> None:
    class LineClosed(Line):
        model_config = ConfigDict(extra="forbid")

    class V1(Payload):
        lines: list[Line]

    class V2(Payload):
        lines: list[LineClosed]

    only(changes(V1, V2), "payload.lines[]", "additionalProperties: false added")


# --- nesting --------------------------------------------------------------------------------------------------------


class LineV2(Payload):
    amount_satang: str
    memo: str | None = None


def test_changes_are_found_in_nested_optional_and_list_models() -> None:
    class DepositV2(Deposit):
        lines: list[LineV2] = Field(default_factory=list)  # type: ignore[assignment]
        parent: LineV2 | None = None  # type: ignore[assignment]

    assert changes(Deposit, DepositV2) == [
        "payload.lines[].amount_satang: type changed from integer to string",
        "payload.parent.amount_satang: type changed from integer to string",
    ]


def test_nested_required_removal_is_found() -> None:
    class LineNoAmount(Payload):
        memo: str | None = None

    class V1(Payload):
        line: Line

    class V2(Payload):
        line: LineNoAmount

    only(changes(V1, V2), "payload.line.amount_satang", "required property removed")


def test_changes_are_found_in_dict_values_tuples_and_list_items() -> None:
    class DepositV2(Deposit):
        tags: dict[str, str] = Field(default_factory=dict)  # type: ignore[assignment]
        pair: tuple[int, int] = (0, 0)  # type: ignore[assignment]

    assert changes(Deposit, DepositV2) == [
        "payload.tags.*: type changed from integer to string",
        "payload.pair[1]: type changed from string to integer",
    ]

    class V1(Payload):
        accounts: list[Literal["sajja", "special"]]

    class V2(Payload):
        accounts: list[Literal["sajja"]]

    only(changes(V1, V2), "payload.accounts[]", "enum values removed")


def test_discriminated_union_variants_added_removed_and_changed() -> None:
    class Bird(Payload):
        kind: Literal["bird"]
        wings: int

    class DogV2(Payload):
        kind: Literal["dog"]
        good: str

    class WithBird(Deposit):
        pet: Annotated[Cat | Dog | Bird, Field(discriminator="kind")]  # type: ignore[assignment]

    class CatOnly(Deposit):
        pet: Cat

    class DogChanged(Deposit):
        pet: Annotated[Cat | DogV2, Field(discriminator="kind")]  # type: ignore[assignment]

    only(changes(Deposit, WithBird), "payload.pet", "union alternative kind=bird added")
    only(changes(WithBird, Deposit), "payload.pet", "union alternative kind=bird removed")
    assert changes(Deposit, DogChanged) == ["payload.pet<kind=dog>.good: type changed from boolean to string"]
    only(changes(Deposit, CatOnly), "payload.pet", "union alternative kind=dog removed")
    only(changes(CatOnly, Deposit), "payload.pet", "union alternative kind=dog added")


def test_recursive_models_terminate_and_changes_are_found() -> None:
    class NodeV2(Payload):
        value: str
        children: list["NodeV2"] = Field(default_factory=list)

    assert schema_of(NodeV2)["$ref"] == "#/$defs/NodeV2"
    assert changes(Node, Node) == []
    assert changes(Node, NodeV2) == ["payload.value: type changed from integer to string"]


# --- hand-written schemas and the function's contract ---------------------------------------------------------------


def test_type_lists_allof_wrappers_and_other_keywords() -> None:
    nullable = {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": ["a"]}
    plain = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    only(breaking_changes(nullable, plain), "payload.a", "type narrowed from string | null to string")

    defs = {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}
    wrapped = {"$defs": defs, "type": "object", "properties": {"i": {"allOf": [{"$ref": "#/$defs/Inner"}]}}}
    direct = {"$defs": defs, "type": "object", "properties": {"i": {"$ref": "#/$defs/Inner", "title": "I"}}}
    assert breaking_changes(wrapped, direct) == []

    not_empty = {"type": "string", "not": {"const": ""}}
    only(breaking_changes({"type": "string"}, not_empty), "payload", "not changed")


def test_paths_start_at_the_given_root() -> None:
    class MoneyV2(Payload):
        amount_satang: str

    assert breaking_changes(schema_of(Money), schema_of(MoneyV2), root="$") == [
        "$.amount_satang: type changed from integer to string"
    ]


def test_non_local_refs_are_refused() -> None:
    remote = {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}
    with pytest.raises(ValueError, match="local"):
        breaking_changes(remote, remote)


# --- the rules match what pydantic consumers actually do ------------------------------------------------------------


class Nullable(Payload):
    amount_satang: int | None


class Float(Payload):
    amount_satang: float


class Short(Payload):
    reference: str = Field(max_length=4)


class Long(Payload):
    reference: str = Field(max_length=8)


@pytest.mark.parametrize(
    ("reader", "writer", "data"),
    [
        # forward: an old consumer (reader = published) cannot read what a new producer (writer = candidate) writes
        (Money, Float, {"amount_satang": 1.5}),
        (SajjaOnly, Account, {"account": "special"}),
        (Money, Nullable, {"amount_satang": None}),
        (Short, Long, {"reference": "ABCDEFG"}),
        (Closed, Open, {"a": 1, "b": 2}),
        # backward: a new consumer (reader = candidate) cannot read old data (writer = published)
        (SajjaOnly, Account, {"account": "special"}),
        (Short, Long, {"reference": "ABCDEFG"}),
        (Money, Nullable, {"amount_satang": None}),
        (Closed, Open, {"a": 1, "b": 2}),
    ],
)
def test_reported_pairs_have_data_that_a_pydantic_consumer_rejects(
    reader: type[BaseModel], writer: type[BaseModel], data: dict[str, Any]
) -> None:
    """The rules are about real consumers: `data` is valid for `writer` and rejected by `reader`, and the pair is
    reported whichever of the two was published first."""
    payload = json.dumps(data)
    writer.model_validate_json(payload)
    with pytest.raises(ValidationError):
        reader.model_validate_json(payload)
    assert changes(reader, writer) != []
    assert changes(writer, reader) != []
