#!/bin/bash
# The images' HEALTHCHECK, with nothing but bash (the slim base has no curl):
#   tessera-healthcheck http PORT PATH   GET http://127.0.0.1:PORT/PATH is 200
#   tessera-healthcheck process NAME     PID 1 is NAME and not a zombie
set -euo pipefail
case "${1:-}" in
  http)
    exec 3<>"/dev/tcp/127.0.0.1/$2"
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$3" >&3
    IFS= read -r -t 3 status <&3
    [[ "$status" == HTTP/1.?\ 200* ]]
    ;;
  process)
    [ "$(cat /proc/1/comm)" = "$2" ] && ! grep -q '^State:.*Z' /proc/1/status
    ;;
  *)
    echo "usage: tessera-healthcheck http PORT PATH | process NAME" >&2
    exit 2
    ;;
esac
