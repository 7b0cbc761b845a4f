"""tests/integration/mongowire.py: a minimal MongoDB wire-protocol client (OP_MSG, BSON),
standard library only, for tests that must look at or write the database behind the API's
back (injecting corruption for the audit, reading the outbox, setting up a state no route
makes). Everything else goes through the API."""

import socket
import struct

DB = "expense_center"


def _cstring(s):
    return s.encode() + b"\x00"


def bson_encode(doc):
    out = bytearray()
    for k, v in doc.items():
        key = _cstring(str(k))
        if isinstance(v, bool):
            out += b"\x08" + key + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x12" + key + struct.pack("<q", v)
        elif isinstance(v, float):
            out += b"\x01" + key + struct.pack("<d", v)
        elif isinstance(v, str):
            b = v.encode()
            out += b"\x02" + key + struct.pack("<i", len(b) + 1) + b + b"\x00"
        elif isinstance(v, dict):
            out += b"\x03" + key + bson_encode(v)
        elif isinstance(v, (list, tuple)):
            out += b"\x04" + key + bson_encode({str(i): x for i, x in enumerate(v)})
        elif v is None:
            out += b"\x0a" + key
        else:
            raise TypeError(type(v))
    return struct.pack("<i", len(out) + 5) + bytes(out) + b"\x00"


def bson_decode(data, pos=0):
    """(dict, end position) of the document at data[pos:]."""
    (size,) = struct.unpack_from("<i", data, pos)
    end = pos + size - 1
    pos += 4
    doc = {}
    while pos < end:
        t = data[pos]
        pos += 1
        z = data.index(b"\x00", pos)
        key = data[pos:z].decode()
        pos = z + 1
        if t == 0x01:
            (v,) = struct.unpack_from("<d", data, pos)
            pos += 8
        elif t == 0x02:
            (n,) = struct.unpack_from("<i", data, pos)
            v = data[pos + 4:pos + 4 + n - 1].decode()
            pos += 4 + n
        elif t in (0x03, 0x04):
            v, pos = bson_decode(data, pos)
            if t == 0x04:
                v = [v[k] for k in sorted(v, key=int)]
        elif t == 0x07:
            v = data[pos:pos + 12].hex()
            pos += 12
        elif t == 0x08:
            v = data[pos] == 1
            pos += 1
        elif t in (0x09, 0x12):
            (v,) = struct.unpack_from("<q", data, pos)
            pos += 8
        elif t == 0x0A:
            v = None
        elif t == 0x10:
            (v,) = struct.unpack_from("<i", data, pos)
            pos += 4
        else:
            raise ValueError("BSON type 0x%02x not handled" % t)
        doc[key] = v
    return doc, end + 1


def mongo_command(port, cmd, timeout=10):
    """Runs one command with OP_MSG and returns the reply document."""
    payload = struct.pack("<I", 0) + b"\x00" + bson_encode(cmd)
    msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(msg)
        head = b""
        while len(head) < 4:
            head += s.recv(4 - len(head))
        (length,) = struct.unpack("<i", head)
        data = head
        while len(data) < length:
            chunk = s.recv(length - len(data))
            if not chunk:
                raise ConnectionError("short reply")
            data += chunk
    assert struct.unpack_from("<i", data, 12)[0] == 2013
    assert data[20] == 0, "reply section kind %d" % data[20]
    return bson_decode(data, 21)[0]


def find(port, collection, filter=None, limit=1000, sort=None):
    """The documents of one find (first batch only: at most `limit`)."""
    cmd = {"find": collection, "filter": filter or {}, "limit": limit, "$db": DB}
    if sort:
        cmd["sort"] = sort
    r = mongo_command(port, cmd)
    assert r.get("ok") == 1, r
    return r["cursor"]["firstBatch"]


def insert(port, collection, *docs):
    """Inserts the documents; fails the test on any write error."""
    r = mongo_command(port, {"insert": collection, "documents": list(docs), "$db": DB})
    assert r.get("ok") == 1 and r.get("n") == len(docs) and not r.get("writeErrors"), r
    return r
