#!/usr/bin/env python3
"""Check one reply of a bench target (bench/run.sh check_reply) against the canned answer.

    check_reply.py NAME "STATUS CONTENT_TYPE" BODY_FILE KIND CANNED_FILE [--optional]
    check_reply.py --json-text CANNED_FILE   (the canned text as it appears in JSON, for
                                              the warm-up check in lib/post.lua)

KIND is what the client must get back:
  json  an OpenAI chat.completion (application/json) whose choices[0].message.content equals
        the canned provider answer's text
  sse   an OpenAI chat.completion.chunk stream (text/event-stream) whose delta contents
        reassemble to that text, with a finish_reason, ending with `data: [DONE]`
CANNED_FILE is the reply the bench upstream sends for this target, in the provider's dialect
(OpenAI chat.completion JSON or SSE, Anthropic Messages JSON or SSE, Bedrock Converse JSON, or
the Bedrock ConverseStream events list); the expected text is taken from it, so a translated
target is checked against what the provider said, not against the OpenAI canned answer.

Exit status: 0 ok; 1 wrong reply (reason on stderr); 3 with --optional when the gateway itself
refused the request with 400, 501 or 503 (a translator or signer missing from this build): the
reason goes to stdout and the caller reports the target as not available.
"""

import json
import sys


def canned_text(path):
    """The assistant text in a canned provider reply, whatever its dialect."""
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".sse"):
        out = []
        for data in sse_data(raw):
            if data == "[DONE]":
                continue
            d = json.loads(data)
            if d.get("object") == "chat.completion.chunk":
                for c in d.get("choices") or []:
                    out.append((c.get("delta") or {}).get("content") or "")
            elif d.get("type") == "content_block_delta" and d["delta"].get("type") == "text_delta":
                out.append(d["delta"]["text"])
        return "".join(out)
    doc = json.loads(raw)
    if isinstance(doc, list):  # Bedrock ConverseStream events
        return "".join(e["payload"]["delta"].get("text", "") for e in doc
                       if e["event"] == "contentBlockDelta")
    if "choices" in doc:  # OpenAI chat.completion
        return doc["choices"][0]["message"]["content"]
    if doc.get("type") == "message":  # Anthropic Messages
        return "".join(b["text"] for b in doc["content"] if b.get("type") == "text")
    if "output" in doc:  # Bedrock Converse
        return "".join(b.get("text", "") for b in doc["output"]["message"]["content"])
    raise ValueError(f"{path}: unknown canned reply format")


def sse_data(raw):
    """The data payload of every SSE event, in order (multi-line data joined with \\n)."""
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in text.split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append("\n".join(data))
    return events


def main():
    if sys.argv[1] == "--json-text":
        print(json.dumps(canned_text(sys.argv[2]), ensure_ascii=False)[1:-1])
        return 0
    name, meta, body_file, kind, canned = sys.argv[1:6]
    optional = "--optional" in sys.argv[6:]
    status, _, ctype = meta.partition(" ")
    with open(body_file, "rb") as f:
        body = f.read()

    def fail(why):
        sys.stderr.write(f"\n[bench] FAILED: {name}: {why}\n  status {status}, content-type {ctype!r}\n"
                         f"  body: {body[:600]!r}\n")
        sys.exit(1)

    if status != "200":
        # The bench upstream's own errors say "bench upstream": those are real failures (a
        # missing or wrong key or signature, an unknown path), never "not available".
        if optional and status in ("400", "501", "503") and b"bench upstream" not in body:
            try:
                msg = json.loads(body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = body[:200].decode("utf-8", "replace")
            print(f"HTTP {status}: {msg}")
            sys.exit(3)
        fail("expected HTTP 200")
    want = canned_text(canned)

    if kind == "json":
        if not ctype.lower().startswith("application/json"):
            fail("expected Content-Type application/json")
        try:
            got = json.loads(body)
        except ValueError as e:
            fail(f"reply is not JSON ({e})")
        if got.get("object") != "chat.completion":
            fail("reply is not a chat.completion")
        try:
            content = got["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            fail("reply has no choices[0].message.content")
        if content != want:
            fail(f"reply content differs from the canned upstream answer\n  want: {want!r}\n  got:  {content!r}")
        return 0

    if kind != "sse":
        fail(f"unknown check kind {kind!r}")
    if not ctype.lower().startswith("text/event-stream"):
        fail("expected Content-Type text/event-stream")
    try:
        events = sse_data(body)
    except UnicodeDecodeError as e:
        fail(f"stream is not UTF-8 ({e})")
    if not events or events[-1] != "[DONE]":
        fail("stream does not end with `data: [DONE]`")
    parts, finish = [], None
    for i, data in enumerate(events[:-1]):
        try:
            d = json.loads(data)
        except ValueError as e:
            fail(f"event {i} is not JSON ({e}): {data[:200]!r}")
        if d.get("object") != "chat.completion.chunk":
            fail(f"event {i} is not a chat.completion.chunk: {data[:200]!r}")
        for c in d.get("choices") or []:
            parts.append((c.get("delta") or {}).get("content") or "")
            finish = c.get("finish_reason") or finish
    content = "".join(parts)
    if content != want:
        fail(f"streamed content differs from the canned upstream answer\n  want: {want!r}\n  got:  {content!r}")
    if finish is None:
        fail("no chunk carries a finish_reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
