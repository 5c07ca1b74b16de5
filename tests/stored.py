"""What a test can read of everything a memory stored, to look for planted secrets."""

from __future__ import annotations

from pyredmem import Memory


def raw_dump(mem: Memory) -> bytes:
    """Every key name and every key's DUMP, on every primary."""
    out = []
    for k in mem.client.scan_iter(count=1000):
        out.append(k)
        out.append(mem.client.dump(k) or b"")
    return b"\n".join(out)


def everything(mem: Memory) -> bytes:
    """Every key name, hash field and value, zset member, list item, stream entry and DUMP,
    on every primary: the plain bytes too, where a DUMP may compress them."""
    c = mem.client
    out: list[bytes] = []
    for key in c.scan_iter(count=1000):
        out += [key, c.dump(key) or b""]
        kind = c.type(key)
        if kind == b"hash":
            for field, value in c.hgetall(key).items():
                out += [field, value]
        elif kind == b"zset":
            out += c.zrange(key, 0, -1)
        elif kind == b"list":
            out += c.lrange(key, 0, -1)
        elif kind == b"stream":
            for _, fields in c.xrange(key):
                for field, value in fields.items():
                    out += [field, value]
    return b"\n".join(out)
