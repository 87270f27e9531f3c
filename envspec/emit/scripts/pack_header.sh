#!/usr/bin/env bash
# envspec pack of the environment @NAME@ (@ENV_ID@), from a lock with sha256 @LOCK_SHA256@:
# @FILES@ locked files, @BYTES@ bytes, with the lock and its bootstrap.sh, in one archive that checks
# itself before anything is unpacked. It builds the environment with no network and no envspec:
#
#   bash THIS_FILE [bootstrap.sh options]   check, unpack into a temporary folder, build, clean up
#                                           (e.g. --prefix DIR, --installer pip; all are listed by
#                                           bootstrap.sh --help, after --extract)
#   bash THIS_FILE --check                  only check the archive
#   bash THIS_FILE --extract DIR            check and unpack: DIR/bootstrap.sh, DIR/pylock.toml,
#                                           DIR/files/ (then: bash DIR/bootstrap.sh --offline DIR)
#
# The archive is the end of this file (payload_size bytes): an uncompressed tar whose sha256 is below.
# Every file in it is checked again against the lock's size and sha256 as it is installed.
set -euo pipefail
payload_size=@PAYLOAD_SIZE@
payload_sha256=@PAYLOAD_SHA256@

say() { printf 'envspec pack: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

self="$0"
[ -f "$self" ] || die "run this file with bash, as bash FILE (it reads itself)"

payload() { tail -c "$payload_size" -- "$self"; }

digest() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys
h = hashlib.sha256()
for block in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
    h.update(block)
print(h.hexdigest())'
    fi
}

check() {
    local size got
    size="$(wc -c <"$self" | tr -d ' ')"
    [ "$size" -gt "$payload_size" ] || die "$self is $size bytes, too short to hold its $payload_size-byte archive (truncated?)"
    say "checking the archive ($payload_size bytes)"
    got="$(payload | digest)"
    [ "$got" = "$payload_sha256" ] \
        || die "$self is damaged: its archive has sha256 $got, not $payload_sha256; nothing was unpacked"
}

size_text() {
    if [ "$1" -ge 1048576 ]; then echo "$(($1 / 1048576)) MiB"; else echo "$(($1 / 1024)) KiB"; fi
}

unpack() {
    local free
    mkdir -p -- "$1"
    # room first: a /tmp in memory (tmpfs) is often smaller than a CUDA environment's files
    free="$(df -Pk -- "$1" 2>/dev/null | awk 'NR == 2 { print $4 }')"
    case "$free" in
        ''|*[!0-9]*) ;;  # df said nothing usable: let tar find out
        *) [ "$((free * 1024))" -ge "$payload_size" ] \
            || die "$1 has $(size_text "$((free * 1024))") free, the files need $(size_text "$payload_size"); set TMPDIR to a folder with room (or use --extract DIR)" ;;
    esac
    payload | tar -x --no-same-owner -f - -C "$1" \
        || die "could not unpack into $1 (is there room? set TMPDIR to a folder on a disk with room)"
}

# Folders that earlier runs unpacked into and could not remove (killed with SIGKILL, a power cut):
# each run holds a lock on its own folder while it lives, so a folder whose lock is free is stale.
remove_stale() {
    command -v flock >/dev/null 2>&1 || return 0
    local old
    for old in "${TMPDIR:-/tmp}"/envspec-pack.*; do
        [ -d "$old" ] && [ ! -L "$old" ] && [ -O "$old" ] || continue
        # shellcheck disable=SC2015 # a folder that cannot be removed is left for another time
        (flock -n 9 && rm -rf -- "$old") 9>>"$old/.lock" 2>/dev/null || true
    done
}

case "${1:-}" in
    -h|--help)
        # the comment block at the top of this file, without its "# "
        awk 'NR == 1 { next } /^#/ { print substr($0, 3); next } { exit }' "$self"
        ;;
    --check)
        check
        say "the archive is intact"
        ;;
    --extract)
        [ "$#" -ge 2 ] || die "--extract needs a folder"
        check
        unpack "$2"
        say "unpacked into $2; build with: bash $(printf '%q' "$2/bootstrap.sh") --offline $(printf '%q' "$2")"
        ;;
    *)
        check
        remove_stale
        folder="$(mktemp -d "${TMPDIR:-/tmp}/envspec-pack.XXXXXX")"
        trap 'rm -rf -- "$folder"' EXIT
        if command -v flock >/dev/null 2>&1; then exec 9>>"$folder/.lock" && flock 9; fi
        trap 'exit 130' INT
        trap 'exit 143' TERM
        unpack "$folder"
        bash "$folder/bootstrap.sh" --offline "$folder" "$@"
        ;;
esac
exit 0
