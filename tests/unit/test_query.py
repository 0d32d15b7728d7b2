"""Items parameters: each bad value is refused naming its parameter."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opengeomesh.errors import InvalidInput
from opengeomesh.features.query import Cursor, parse_bbox, parse_items_query
from opengeomesh.features.timeval import parse_interval


def query(**params: str):  # type: ignore[no-untyped-def]
    return parse_items_query(params, default_limit=100, max_limit=10_000)


def test_defaults_and_clamp() -> None:
    assert query().limit == 100
    assert query(limit="20000").limit == 10_000
    assert query(limit="7", offset="3").offset == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "unlimited"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "0,10,1,5"}, "bbox"),
        ({"bbox": "0,0,200,1"}, "bbox"),
        ({"bbox": "nan,0,1,1"}, "bbox"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"datetime": "../.."}, "datetime"),
        ({"datetime": "2026-02-01/2026-01-01"}, "datetime"),
        ({"cursor": "!!"}, "cursor"),
        ({"cursor": Cursor(True, 5).encode(), "offset": "3"}, "offset"),
    ],
)
def test_bad_values(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        query(**params)
    assert caught.value.field == field


def test_bbox_forms() -> None:
    assert parse_bbox("1,2,3,4") == ((1, 2, 3, 4),)
    assert parse_bbox("1,2,0,3,4,100") == ((1, 2, 3, 4),)
    assert parse_bbox("170,-10,-170,10") == ((170, -10, 180, 10), (-180, -10, -170, 10))


def test_intervals() -> None:
    day_start, day_end = parse_interval("2026-11-28")
    assert day_end - day_start == pytest.approx(86400, abs=1e-3)
    start, end = parse_interval("2026-11-28T06:00:00Z/..")
    assert end is None and start == parse_interval("2026-11-28T07:00:00+01:00")[0]
    assert parse_interval("../2026-11-28T06:00:00Z")[0] is None


@given(st.booleans(), st.integers(min_value=0, max_value=2**62))
def test_cursor_round_trip(forward: bool, key: int) -> None:
    assert Cursor.decode(Cursor(forward, key).encode()) == Cursor(forward, key)


@given(st.text(max_size=30))
def test_any_cursor_text_is_valid_or_refused(text: str) -> None:
    try:
        Cursor.decode(text)
    except InvalidInput as exc:
        assert exc.field == "cursor"
