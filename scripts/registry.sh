#!/bin/bash
# A throwaway local registry (Debian's docker-registry) for the quickstart and the tests.
#   registry.sh start DIR                  start on 127.0.0.1:<free port>; prints 127.0.0.1:PORT
#   registry.sh push DIR OCI_LAYOUT NAME:TAG   push an OCI layout (hello-world as Docker schema2)
#   registry.sh stop DIR                   stop it
set -euo pipefail

cmd=${1:?usage: registry.sh start|push|stop DIR ...}
DIR=${2:?usage: registry.sh $cmd DIR}

case "$cmd" in
start)
    mkdir -p "$DIR/storage"
    DIR=$(cd "$DIR" && pwd)
    cat > "$DIR/config.yml" <<CONF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
CONF
    : > "$DIR/registry.log"
    # Port 0 lets the kernel pick a free port; the registry logs the address it got.
    setsid docker-registry serve "$DIR/config.yml" >> "$DIR/registry.log" 2>&1 < /dev/null &
    echo $! > "$DIR/pid"
    addr=
    for _ in $(seq 1 100); do
        addr=$(sed -n 's/.*msg="listening on \(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$DIR/registry.log" | tail -1)
        if [ -n "$addr" ] && (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
            if printf 'GET /v2/ HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" | timeout 2 bash -c "exec 3<>/dev/tcp/${addr%:*}/${addr#*:}; cat >&3; head -1 <&3" | grep -q ' 200 '; then
                echo "$addr" > "$DIR/addr"
                echo "$addr"
                exit 0
            fi
        fi
        kill -0 "$(cat "$DIR/pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "registry.sh: registry did not start; log:" >&2
    cat "$DIR/registry.log" >&2
    kill "$(cat "$DIR/pid")" 2>/dev/null || true
    exit 1
    ;;
push)
    LAYOUT=${3:?usage: registry.sh push DIR OCI_LAYOUT NAME:TAG}
    NAME=${4:?usage: registry.sh push DIR OCI_LAYOUT NAME:TAG}
    addr=$(cat "$DIR/addr")
    format=()
    case "${NAME%%:*}" in
        hello-world | */hello-world) format=(--format v2s2) ;;
    esac
    skopeo copy --quiet --insecure-policy --dest-tls-verify=false "${format[@]}" \
        "oci:$LAYOUT:latest" "docker://$addr/$NAME"
    ;;
stop)
    if [ -f "$DIR/pid" ]; then
        pid=$(cat "$DIR/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$DIR/pid"
    fi
    ;;
*)
    echo "usage: registry.sh start|push|stop DIR ..." >&2
    exit 2
    ;;
esac
