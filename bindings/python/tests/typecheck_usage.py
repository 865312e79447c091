"""Not a test module: test.sh runs `mypy --strict` on it to check that the
stubs give users useful static types (Map is a MutableMapping[K, V])."""

from collections.abc import MutableMapping

import ferrymap


def total(m: MutableMapping[int, int]) -> int:
    return sum(m.values())


def main() -> None:
    with ferrymap.Map(int, int, {1: 2}) as m:
        assert total(m) == 2
        value: int = m[1]
        m.update({3: value})
        pairs: list[tuple[int, int]] = list(m.items())
        assert len(pairs) == 2
        handle: int = m.handle
        borrowed = ferrymap.Map.attach(handle)
        borrowed.close()
    s = ferrymap.Map(str, bytes)
    s["k"] = b"v"
    data: bytes = s.export()
    t = ferrymap.Map.import_(data)
    with s.view("k") as mv:
        assert bytes(mv) == b"v"
    try:
        s["missing"]
    except KeyError:
        pass
    except ferrymap.Error as e:
        print(e.status)
    s.close()
    t.close()
    census: int = ferrymap.census()["total"]
    assert census == ferrymap.census_total()


if __name__ == "__main__":
    main()
