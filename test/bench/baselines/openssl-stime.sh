#!/bin/sh
# OpenSSL connections per second, a new full handshake each (s_time -new):
#   openssl-stime.sh HOST:PORT SECONDS PATH
# With -www, s_time sends "GET PATH HTTP/1.0" and reads until the server closes;
# the bench server accepts that request form.
exec openssl s_time -connect "$1" -new -time "$2" -www "$3" 2>&1
