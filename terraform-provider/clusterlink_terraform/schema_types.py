"""Schema pieces the `tf` framework (1.2) lacks: an object type, single and list nested blocks.

`tf` offers String, Number, Bool, List, Set and Map types and set-nested blocks.
The ClusterLink schema also needs lists of objects (a link's tasks, a mirror's
partitions), single `source { ... }` / `destination { ... }` blocks, and repeated
`group_filter { ... }` blocks whose order matters. `conform` brings a stored state
to the current schema (state upgrades).
"""

from __future__ import annotations

import json
from typing import Any

from tf.provider import _decode_state, _encode_state_d
from tf.schema import Block, NestedBlock, NestMode
from tf.types import List, Map, TfType, Unknown
from tf.utils import Diagnostics


class Object(TfType):
    """A Terraform object with fixed attribute names and types; a Python dict."""

    def __init__(self, attributes: dict[str, TfType]) -> None:
        self.attributes = attributes

    def encode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return {name: t.encode(value.get(name)) for name, t in self.attributes.items()}

    def decode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return {name: t.decode(value.get(name)) for name, t in self.attributes.items()}

    def tf_type(self) -> bytes:
        types = {name: json.loads(t.tf_type()) for name, t in self.attributes.items()}
        return json.dumps(["object", types], separators=(",", ":")).encode()


class SingleNestedBlock(NestedBlock):
    """A block written at most once (`source { ... }`); its value is a dict or None.

    `required=True` makes Terraform insist on exactly one such block.
    """

    def __init__(self, type_name: str, block: Block, required: bool = True) -> None:
        count = 1 if required else 0
        super().__init__(type_name, NestMode.Single, block, min_items=count, max_items=count)

    def encode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return _encode_state_d(self._amap(), self._bmap(), value, None)

    def decode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return _decode_state(Diagnostics(), self._amap(), self._bmap(), value)[1]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return a_decoded == b_decoded


class ListNestedBlock(NestedBlock):
    """A block written any number of times, in order (`group_filter { ... }`); a list of dicts."""

    def __init__(self, type_name: str, block: Block) -> None:
        super().__init__(type_name, NestMode.Set, block)

    def to_pb(self) -> Any:
        msg = super().to_pb()
        msg.nesting = type(msg).NestingMode.LIST
        return msg

    def encode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return [_encode_state_d(self._amap(), self._bmap(), item, None) for item in value]

    def decode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return [_decode_state(Diagnostics(), self._amap(), self._bmap(), item)[1] for item in value]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return a_decoded == b_decoded


def conform(block: Any, value: dict) -> dict:
    """A stored value (state JSON) with exactly the attributes and blocks of `block` (a Schema
    or a Block): one it lacks is null (an empty list for a repeated block), one the schema no
    longer has is dropped. Terraform refuses a state object that lacks an attribute."""
    out = {a.name: _conform_value(a.type, value.get(a.name)) for a in block.attributes}
    for nested in block.block_types:
        item = value.get(nested.type_name)
        if nested.nesting_mode == NestMode.Single:
            out[nested.type_name] = conform(nested.block, item) if isinstance(item, dict) else None
        else:
            items = item if isinstance(item, list) else []
            out[nested.type_name] = [conform(nested.block, i) for i in items if isinstance(i, dict)]
    return out


def _conform_value(t: TfType, value: Any) -> Any:
    if isinstance(t, Object) and isinstance(value, dict):
        return {name: _conform_value(at, value.get(name)) for name, at in t.attributes.items()}
    if isinstance(t, List) and isinstance(value, list):  # Set is a List
        return [_conform_value(t.element_type, v) for v in value]
    if isinstance(t, Map) and isinstance(value, dict):
        return {k: _conform_value(t.element_type, v) for k, v in value.items()}
    return value
