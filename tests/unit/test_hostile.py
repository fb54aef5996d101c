"""The hostile-input corpus (tests/support/hostile.py): each item parses or is rejected with its own reason."""

import pytest

from spectator.core.model import BadEvent, parse_event
from tests.support import hostile


@pytest.mark.parametrize("item", hostile.for_files() + hostile.kafka_only(), ids=lambda i: i.name)
def test_each_item_parses_or_is_rejected_with_its_reason(item):
    try:
        event = parse_event(item.payload)
    except BadEvent as e:
        assert e.code == item.outcome, str(e)
        return
    assert item.outcome == "parsed" and event.user_id == item.user_id


def test_the_corpus_is_broad():
    items = hostile.for_files() + hostile.kafka_only()
    assert len(items) >= 40 and len({i.outcome for i in items}) >= 12
