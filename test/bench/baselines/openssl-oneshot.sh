#!/bin/sh
# OpenSSL one-shot Gemini fetch: openssl-oneshot.sh HOST PORT URL  (body, with header line, on stdout)
# -quiet implies -ign_eof: s_client reads until the server closes.
printf '%s\r\n' "$3" | exec openssl s_client -quiet -connect "$1:$2" -servername "$1" 2>/dev/null
