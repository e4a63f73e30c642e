"""The Terraform provider's import ids are names taken as given (issue 7: names are matched in full)."""

from __future__ import annotations

import pytest

from clusterlink_terraform import mapping


@pytest.mark.parametrize("raw", ["east\n", " east", "east\t"])
def test_import_ids_are_taken_as_given(raw: str) -> None:
    # Not stripped into a valid name: the service refuses the name as it is.
    assert mapping.parse_link_import_id(raw) == raw
    assert mapping.parse_mirror_import_id(f"east/{raw}") == ("east", raw)


def test_bad_import_id_messages_are_short() -> None:
    for parse in (mapping.parse_link_import_id, mapping.parse_mirror_import_id):
        with pytest.raises(ValueError) as info:
            parse("a/" + "b" * 100_000 + "/c")
        assert len(str(info.value)) < 200
