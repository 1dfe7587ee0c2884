"""The references of a validated model, read by the code made per model class (``specs.refs._model_reader``), are
the ones the generic walk finds in its plain data: nested lists, optional parts left out, union members without
the field, texts only."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel

from modelplane.specs.refs import (
    FoundRef,
    RefTo,
    find_refs,
    find_refs_in_model,
    reference_paths,
    refs_as_plain,
    refs_from_plain,
)

TO_DATASET = RefTo(("dataset",), edge="reads")
TO_MODEL = RefTo(("model",), edge="serves")


class Leaf(BaseModel):
    dataset: Annotated[str, TO_DATASET]


class Group(BaseModel):
    leaves: list[Leaf] = []
    names: list[Annotated[str, TO_DATASET]] = []


class Other(BaseModel):
    kind: str = "other"


class Spec(BaseModel):
    model: Annotated[str, TO_MODEL] | None = None
    groups: list[list[Group]] = []
    part: Union[Group, Other] | None = None  # noqa: UP007 (a union member without the fields)
    tags: list[Annotated[str | int, TO_DATASET]] = []


class Doc(BaseModel):
    spec: Spec


def _both(doc: Doc) -> tuple[list[FoundRef], list[FoundRef]]:
    from_model = find_refs_in_model(doc)
    # what a forked child sends back reads back as the same references
    assert refs_from_plain(Doc, refs_as_plain(doc)) == from_model
    return from_model, find_refs(doc.model_dump(), reference_paths(Doc))


def test_nested_lists_optional_parts_and_unions_read_as_the_generic_walk_reads_them() -> None:
    full = Doc(
        spec=Spec(
            model="m",
            groups=[[Group(leaves=[Leaf(dataset="a"), Leaf(dataset="b")], names=["c"])], [], [Group(names=["d"])]],
            part=Group(leaves=[Leaf(dataset="e")]),
            tags=["f", 7, "g"],
        )
    )
    from_model, from_data = _both(full)
    assert from_model == from_data
    assert [(r.path, r.value) for r in from_model] == [
        (("spec", "model"), "m"),
        (("spec", "groups", 0, 0, "leaves", 0, "dataset"), "a"),
        (("spec", "groups", 0, 0, "leaves", 1, "dataset"), "b"),
        (("spec", "groups", 0, 0, "names", 0), "c"),
        (("spec", "groups", 2, 0, "names", 0), "d"),
        (("spec", "part", "leaves", 0, "dataset"), "e"),
        (("spec", "tags", 0), "f"),  # a number where a name may be written is no reference
        (("spec", "tags", 2), "g"),
    ]
    empty = Doc(spec=Spec(part=Other()))
    assert _both(empty) == ([], [])
