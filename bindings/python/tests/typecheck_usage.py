"""Not a test module: test.sh runs `mypy --strict` on it to check that the
stubs give users useful static types (Map is a MutableMapping[K, V])."""

import asyncio
from collections.abc import MutableMapping

import ferrymap


def total(m: MutableMapping[int, int]) -> int:
    return sum(m.values())


def bridge_usage() -> None:
    with ferrymap.Map.bridge(int, str, queue=64) as b:
        b[1] = "one"
        seq: int = b.seq
        assert seq == ferrymap.last_seq() and b.is_bridge and not b.failed
        with b.subscribe(16) as feed:
            with b.submit(
                [ferrymap.Request.insert(2, "two"), ("get", 1), ("len",)]
            ) as t:
                done: bool = t.wait(5.0)
                results: list[ferrymap.Result] = t.results()
                assert done and results[1].value == "one" and results[2].len == 2
            event: ferrymap.Event = feed.next(5.0)
            assert (event.seq, event.op, event.key) == (2, "insert", 2)

            async def use() -> None:
                value: str | None = await b.aget(1)
                assert value == "one"
                assert await b.aset(3, "three") > 0
                rs = await b.asubmit([("remove", 3)])
                assert rs[0].flag
                again: list[ferrymap.Result] = await b.submit([("len",)])
                assert again[0].len == 2
                async for ev in feed:
                    assert isinstance(ev, ferrymap.Event)
                    if ev.op == "remove":
                        break

            asyncio.run(use())
        try:
            b.try_submit([("len",)]).close()
        except ferrymap.QueueFullError:
            pass
        except ferrymap.FerryTimeoutError:
            pass


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
    bridge_usage()
    census: int = ferrymap.census()["total"]
    assert census == ferrymap.census_total()


if __name__ == "__main__":
    main()
