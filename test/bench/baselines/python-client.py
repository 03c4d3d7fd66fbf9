#!/usr/bin/env python3
"""Python Gemini client that detects close_notify by hand, as the Gemini
community did: SSLContext._msg_callback watches for a CLOSE_NOTIFY alert read
from the server. python-client.py URL [COUNT]: body on stdout (COUNT=1), a
verdict on stderr; with COUNT > 1 fetches sequentially and prints JSON stats."""
import json, socket, ssl, sys, time
from urllib.parse import urlsplit

def fetch(url, ctx, out):
    u = urlsplit(url)
    seen = []
    def on_message(conn, direction, version, content_type, msg_type, data):
        if direction == 'read' and content_type == ssl._TLSContentType.ALERT and msg_type == ssl._TLSAlertType.CLOSE_NOTIFY:
            seen.append(True)
    ctx._msg_callback = on_message
    with socket.create_connection((u.hostname, u.port or 1965)) as raw:
        with ctx.wrap_socket(raw, server_hostname=u.hostname, suppress_ragged_eofs=False) as s:
            s.sendall((url + '\r\n').encode())
            n = 0
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        break
                    n += len(data)
                    if out:
                        out.write(data)
            except ssl.SSLEOFError:
                pass
    return n, bool(seen)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
if count == 1:
    n, complete = fetch(sys.argv[1], ctx, sys.stdout.buffer)
    print('complete' if complete else 'INCOMPLETE', file=sys.stderr)
    sys.exit(0 if complete else 1)
t0 = time.perf_counter()
complete = sum(fetch(sys.argv[1], ctx, None)[1] for _ in range(count))
print(json.dumps({'count': count, 'seconds': time.perf_counter() - t0, 'complete': complete}))
