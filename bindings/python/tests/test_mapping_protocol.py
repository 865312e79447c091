"""CPython's own mapping-protocol suites (test.mapping_tests, shipped with
CPython) over Map.

TestMappingProtocol's tests hard-code their data: most use str keys with
int values, some int keys with int values, a few str values. A typed map
holds one key kind and one value kind, so each test runs on every schema
its data fits and is excluded by name from the others (RUNS_ON below).
Three fit no typed map and are excluded everywhere, with the reason in
EXCLUDED. BasicTestMappingProtocol takes its data from _reference(), so it
runs whole on every schema, bytes and float included.
"""

import unittest

import ferrymap

# The CPython test package must be there: an ImportError fails the suite.
from test import mapping_tests

# The schemas each TestMappingProtocol test's own data fits.
II, SI, SS = ("int", "int"), ("str", "int"), ("str", "str")
RUNS_ON = {
    "test_read": (II, SI, SS),
    "test_write": (II, SI, SS),
    "test_bool": (SS,),  # {'x': 'y'}
    "test_clear": (II,),  # {1: 1, 2: 2, 3: 3}
    "test_constructor": (SI,),  # type2test(x=1, y=2)
    "test_contains": (SI,),  # {'a': 1, 'b': 2}
    "test_copy": (II,),
    "test_get": (SI,),
    "test_getitem": (SI,),
    "test_items": (II,),
    "test_keys": (SI,),
    "test_len": (SI,),
    "test_pop": (SS,),  # {'key': 'value'}
    "test_popitem": (SI,),
    "test_values": (II,),
}
EXCLUDED = {
    # Subclasses the mapping type (class dictlike(self.type2test)) and
    # builds maps of None values: Map is a final extension type, and a
    # typed map holds no None.
    "test_fromkeys": "subclasses the type; None values",
    # setdefault('key0') stores None; the same test then uses int values.
    # tests/test_atomic.py and test_mapping.py cover setdefault.
    "test_setdefault": "stores None",
    # Updates one mapping with both int and str keys.
    "test_update": "mixes key kinds in one map",
}

REFERENCES = {
    II: {1: 2, 10: 100, 20: 200},
    SI: {"1": 2, "key1": 1, "key2": 3},
    SS: {"1": "2", "key1": "value1", "key2": "value2"},
    ("int", "str"): {1: "2", 10: "a", 20: "b"},
    ("bytes", "bytes"): {b"1": b"2", b"\x00k": b"\xff", b"": b"empty key"},
    ("str", "float"): {"1": 2.0, "inf": float("inf"), "neg": -0.0},
}


def _factory(key, value):
    def make(*args, **kwargs):
        m = ferrymap.Map(key, value)
        if args or kwargs:
            m.update(*args, **kwargs)
        return m

    return make


def _suite(base, schema, keep):
    names = {
        n for n in dir(base) if n.startswith("test_") and callable(getattr(base, n))
    }
    body = {
        "type2test": staticmethod(_factory(*schema)),
        "_reference": lambda self, ref=REFERENCES[schema]: dict(ref),
    }
    for n in names - keep:
        body[n] = None  # excluded by name (see RUNS_ON and EXCLUDED)
    return type(f"Test{base.__name__}_{schema[0]}_{schema[1]}", (base,), body)


def _fits(schema):
    return {n for n, on in RUNS_ON.items() if schema in on}


# Every test of TestMappingProtocol is either run somewhere or excluded.
_all = {
    n
    for n in dir(mapping_tests.TestMappingProtocol)
    if n.startswith("test_") and callable(getattr(mapping_tests.TestMappingProtocol, n))
}
assert _all == set(RUNS_ON) | set(EXCLUDED), _all ^ (set(RUNS_ON) | set(EXCLUDED))

for _schema in (II, SI, SS):
    _cls = _suite(mapping_tests.TestMappingProtocol, _schema, _fits(_schema))
    globals()[_cls.__name__] = _cls

_basic = {
    n for n in dir(mapping_tests.BasicTestMappingProtocol) if n.startswith("test_")
}
for _schema in REFERENCES:
    _cls = _suite(mapping_tests.BasicTestMappingProtocol, _schema, _basic)
    globals()[_cls.__name__] = _cls

del _cls, _schema


def test_every_protocol_test_ran_somewhere():
    """The exclusions leave no test of the suite unrun except EXCLUDED."""
    ran = set()
    for schema in (II, SI, SS):
        ran |= _fits(schema)
    assert ran == _all - set(EXCLUDED)


if __name__ == "__main__":
    unittest.main()
