"""Shared fixtures. The whole session must leave no live handle behind:
the census of the core (maps, iterators, views) is checked at the end."""

import gc
import pathlib

import pytest

import ferrymap

HERE = pathlib.Path(__file__).resolve().parent
BINDING = HERE.parent

KEY_SAMPLES = {
    int: [0, 1, -1, 42, 2**63 - 1, -(2**63), 123456789],
    str: ["", "a", "key", "emoji \U0001f980", "nul\x00inside", "ünïcödé", "x" * 300],
    bytes: [b"", b"a", b"\x00\xff", b"key", b"\x00" * 5, bytes(range(256)), b"y" * 300],
}
VALUE_SAMPLES = {
    int: [0, 7, -7, 2**63 - 1, -(2**63), 99, 1 << 40],
    float: [0.0, 1.5, -2.25, float("inf"), 1e300, -0.0, 3.0],
    str: ["", "v", "value \U0001f600", "nul\x00v", "x" * 1000, "é", "z"],
    bytes: [b"", b"v", b"\x00\x01", b"x" * 1000, b"\xff", b"val", b"z" * 10_000],
}
SCHEMAS = [(k, v) for k in (int, str, bytes) for v in (int, float, str, bytes)]


def schema_id(schema):
    k, v = schema
    return f"{k.__name__}-{v.__name__}"


@pytest.fixture(params=SCHEMAS, ids=schema_id)
def schema(request):
    return request.param


@pytest.fixture
def sample(schema):
    """A dict of sample entries for the schema."""
    k, v = schema
    return dict(zip(KEY_SAMPLES[k], VALUE_SAMPLES[v]))


@pytest.fixture(autouse=True, scope="session")
def census_back_to_zero():
    assert ferrymap.census_total() == 0, (
        f"handles alive before the tests: {ferrymap.census()}"
    )
    yield
    gc.collect()
    left = ferrymap.census()
    assert left["total"] == 0, f"handles leaked by the test session: {left}"
