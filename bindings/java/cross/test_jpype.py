"""Python and Java in one process, sharing maps through handles (issue 3).

A Python program using the `ferrymap` package starts a JVM with JPype, with the
Java binding's jar on the class path. The JVM's loader finds the libferrymap.so
that Python already mapped (/proc/self/maps) and loads that same file, so both
languages talk to one registry:

- Python makes a map, hands its handle (an int) to Java; Java writes; Python reads.
- Java makes a map, hands its handle to Python; Python writes; Java reads.
- Ownership moves both ways (detach/adopt, disown/attach(owned=True)).
- Strings with an embedded NUL and characters outside the BMP are the same bytes.
- Both census counts end at zero.

Usage: python test_jpype.py PATH/TO/ferrymap.jar
"""

import sys

import ferrymap
import jpype

U64 = 1 << 64


def to_java(handle: int) -> int:
    """A handle as Java's signed long."""
    return handle - U64 if handle >= 1 << 63 else handle


def to_python(handle: int) -> int:
    return int(handle) % U64


def main() -> int:
    jar = sys.argv[1]
    jpype.startJVM("-Xcheck:jni", classpath=[jar], convertStrings=False)
    Library = jpype.JClass("dev.ferrymap.Library")
    LongLongMap = jpype.JClass("dev.ferrymap.LongLongMap")
    FerryMap = jpype.JClass("dev.ferrymap.FerryMap")
    Codec = jpype.JClass("dev.ferrymap.Codec")
    checks = 0

    # One core, one registry.
    assert to_python(Library.registryId()) == ferrymap.registry_id(), "two registries"
    assert str(Library.libraryPath()) == ferrymap.library_path(), (
        str(Library.libraryPath()),
        ferrymap.library_path(),
    )
    mapped = [line for line in open("/proc/self/maps") if "libferrymap" in line]
    assert len({line.split()[-1] for line in mapped}) == 1, mapped
    checks += 1

    # Python makes, Java writes, Python reads.
    with ferrymap.Map(int, int) as m:
        m[1] = 10
        j = LongLongMap.attach(to_java(m.handle))
        assert j.get(1) == 10
        for k in range(1000):
            j.put(k, k * k)
        j.add(1, 5)
        j.close()  # borrowed: does not free
        assert len(m) == 1000
        assert m[999] == 999 * 999 and m[1] == 6
        checks += 1

    # Java makes, Python writes, Java reads (STR -> STR, exact UTF-8).
    jm = FerryMap.create(Codec.STRING, Codec.STRING)
    try:
        pm = ferrymap.Map.attach(to_python(jm.handle()))
        tricky = ["", "nul\0inside", "emoji \U0001f680", "caf\u00e9"]
        for s in tricky:
            pm[s] = s + "|py"
        for s in tricky:
            assert str(jm.get(jpype.JString(s))) == s + "|py", s
        jm.put(jpype.JString("from java \U0001f980\0"), jpype.JString("v"))
        assert pm["from java \U0001f980\0"] == "v"
        pm.close()
    finally:
        jm.close()
    checks += 1

    # Ownership moves: Java -> Python, and Python -> Java.
    owned_by_java = LongLongMap.create()
    owned_by_java.put(7, 70)
    py_owned = ferrymap.Map.attach(to_python(owned_by_java.detach()), owned=True)
    assert py_owned[7] == 70
    py_owned.close()  # frees it
    with ferrymap.Map(int, int) as src:
        src[3] = 30
        h = src.disown()
    adopted = LongLongMap.adopt(to_java(h))
    assert adopted.get(3) == 30
    adopted.close()  # frees it
    checks += 1

    # Nothing leaked, as both languages count it.
    import gc

    gc.collect()
    assert ferrymap.census_total() == 0, ferrymap.census()
    assert Library.censusTotal() == 0
    checks += 1

    print(f"{checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
