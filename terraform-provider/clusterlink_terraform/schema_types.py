"""Schema pieces the `tf` framework (1.2) lacks: an object type, single and list nested blocks.

`tf` offers String, Number, Bool, List, Set and Map types and set-nested blocks.
The ClusterLink schema also needs lists of objects (a link's tasks, a mirror's
partitions), single `source { ... }` / `destination { ... }` blocks, and repeated
`group_filter { ... }` blocks whose order matters.
"""

from __future__ import annotations

import json
from typing import Any

from tf.provider import _decode_state, _encode_state_d
from tf.schema import Block, NestedBlock, NestMode
from tf.types import TfType, Unknown
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
