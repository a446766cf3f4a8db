#!/usr/bin/env python3
"""Frame Bedrock ConverseStream events as AWS event-stream (application/vnd.amazon.eventstream).

    eventstream.py EVENTS_JSON OUT_BIN

EVENTS_JSON is a list of {"event": "<:event-type>", "payload": {...}}; every event becomes one
message with the string headers :event-type, :content-type application/json and
:message-type event, and the JSON payload. Wire format (integers big-endian): total length (4),
headers length (4), CRC32 of those 8 bytes (4), headers, payload, CRC32 of everything before
it (4); each header is name length (1), name, value type (1, 7 = string), value length (2),
value. The bench upstream serves the result as a static file (binary: it cannot go through
nginx's `return`).
"""

import json
import struct
import sys
import zlib


def header(name, value):
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + struct.pack(">BH", 7, len(v)) + v


def message(event_type, payload):
    headers = (header(":event-type", event_type) + header(":content-type", "application/json")
               + header(":message-type", "event"))
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    out = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return out + struct.pack(">I", zlib.crc32(out))


def main():
    events_file, out_file = sys.argv[1:]
    with open(events_file) as f:
        events = json.load(f)
    with open(out_file, "wb") as f:
        for e in events:
            f.write(message(e["event"], e["payload"]))


if __name__ == "__main__":
    main()
