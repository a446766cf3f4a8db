#!/usr/bin/env python3
"""Frame Bedrock ConverseStream events as AWS event-stream (application/vnd.amazon.eventstream).

    eventstream.py EVENTS_JSON OUT_BIN [OUT_NGINX_RETURN]

EVENTS_JSON is a list of {"event": "<:event-type>", "payload": {...}}; every event becomes one
message with the string headers :event-type, :content-type application/json and
:message-type event, and the JSON payload. Wire format (integers big-endian): total length (4),
headers length (4), CRC32 of those 8 bytes (4), headers, payload, CRC32 of everything before
it (4); each header is name length (1), name, value type (1, 7 = string), value length (2),
value.

With OUT_NGINX_RETURN, also writes the nginx directive `return 200 '<the bytes>';` for the
bench upstream to `include`, so the binary answer is served from memory like the text ones
(a file served through an internal redirect cost the upstream ~8 us more per answer). nginx
reads config bytes as they are (NUL included) but expands '$' in a return text, so any
message whose framing would hold a '$' byte gets its "p" padding field (which real Bedrock
events carry, at varying lengths, for this kind of reason: to hide sizes) one letter shorter
until it does not; '\\' and "'" are escaped.
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


def message_without_dollar(event_type, payload):
    msg = message(event_type, payload)
    pad = payload.get("p")
    while b"$" in msg:
        if not pad:
            sys.exit(f"eventstream.py: cannot frame a {event_type} event without a '$' byte")
        pad = pad[:-1]
        payload = dict(payload, p=pad)
        msg = message(event_type, payload)
    return msg


def nginx_return(data):
    quoted = data.replace(b"\\", b"\\\\").replace(b"'", b"\\'")
    return b"return 200 '" + quoted + b"';\n"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    events_file, out_file = sys.argv[1:3]
    with open(events_file) as f:
        events = json.load(f)
    for_nginx = len(sys.argv) == 4
    frame = message_without_dollar if for_nginx else message
    data = b"".join(frame(e["event"], e["payload"]) for e in events)
    with open(out_file, "wb") as f:
        f.write(data)
    if for_nginx:
        with open(sys.argv[3], "wb") as f:
            f.write(nginx_return(data))


if __name__ == "__main__":
    main()
