# ---- the fixed part of every bootstrap.sh (the data above it differs per lock) ----

usage() {
    cat <<'USAGE'
Usage: bash bootstrap.sh [--prefix DIR] [--python PATH] [--mirror URL]... [--offline DIR] [--pip-cache DIR]

Creates (or brings up to date) a virtual environment holding exactly the locked packages.

  --prefix DIR    where the environment goes (default: the lock's [targets.venv] prefix)
  --python PATH   the interpreter to build it with (default: pythonX.Y, then python3, from PATH)
  --mirror URL    install from this index instead of the lock's mirrors (repeatable, tried in order)
  --offline DIR   install from the wheel files in DIR, with no index at all
  --pip-cache DIR keep pip's download cache in DIR (default: no cache)
USAGE
}

say() { printf 'envspec: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

prefix="$ENVSPEC_DEFAULT_PREFIX"
python=""
offline=""
pip_cache=""
mirrors=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --prefix) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#*=}"; shift ;;
        --python) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; python="$2"; shift 2 ;;
        --python=*) python="${1#*=}"; shift ;;
        --mirror) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; mirrors+=("$2"); shift 2 ;;
        --mirror=*) mirrors+=("${1#*=}"); shift ;;
        --offline) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; offline="$2"; shift 2 ;;
        --offline=*) offline="${1#*=}"; shift ;;
        --pip-cache) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; pip_cache="$2"; shift 2 ;;
        --pip-cache=*) pip_cache="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) say "unknown argument: $1"; usage >&2; exit 2 ;;
    esac
done
[ -n "$prefix" ] || die "--prefix must not be empty"
if [ "${#mirrors[@]}" -eq 0 ]; then
    mirrors=("${ENVSPEC_MIRRORS[@]}")
fi

mkdir -p -- "$(dirname -- "$prefix")"
final="$(cd -- "$(dirname -- "$prefix")" && pwd -P)/$(basename -- "$prefix")"
# Python's own bin/activate writes the prefix inside double quotes: $, ` and \ there would run as code
case "$final" in
    *[\$\`\\\"]*) die "the prefix $final holds \$, \`, \\ or a double quote, which Python's activate script would run as code" ;;
esac

# 1. Already the locked environment? Then there is nothing to do.
if [ -x "$final/bin/python" ] && [ -f "$final/envspec-stamp" ] \
    && [ "$(cat -- "$final/envspec-stamp")" = "$ENVSPEC_ENV_ID $ENVSPEC_LOCK_SHA256" ]; then
    say "$final is already environment $ENVSPEC_ENV_ID: nothing to do"
    exit 0
fi

# 2. The interpreter: the locked Python version, found on PATH or given.
python_version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null; }
matches() {
    local version
    version="$(python_version "$1")" || return 1
    case "$ENVSPEC_PYTHON" in
        *.*.*) [ "$version" = "$ENVSPEC_PYTHON" ] ;;
        *) [ "${version%.*}" = "$ENVSPEC_PYTHON" ] ;;
    esac
}
if [ -n "$python" ]; then
    matches "$python" || die "$python is not Python $ENVSPEC_PYTHON (it is $(python_version "$python" || echo 'not runnable'))"
else
    for candidate in "python$ENVSPEC_PYTHON" "python${ENVSPEC_PYTHON%.*}" python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && matches "$candidate"; then
            python="$(command -v "$candidate")"
            break
        fi
    done
    [ -n "$python" ] || die "no Python $ENVSPEC_PYTHON on PATH; install it or pass --python PATH"
fi

# 3. System packages this script cannot install (no root needed here): check and report.
if [ "${#ENVSPEC_SYSTEM_PACKAGES[@]}" -gt 0 ] && command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for package in "${ENVSPEC_SYSTEM_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "${package%%=*}" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "missing system packages: ${missing[*]}"
        say "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    fi
fi

# 4. Build at the prefix itself (venvs are not relocatable: scripts name their interpreter), with any
#    older environment moved aside. It is put back if anything fails; the new one counts as built only
#    once its stamp is written, at the very end.
work="$final"
aside=""
cleanup() {
    if [ -n "$work" ]; then
        rm -rf -- "$work"
        if [ -n "$aside" ]; then mv -- "$aside" "$final"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -e "$final" ]; then
    aside="$final.envspec-old.$$"
    mv -- "$final" "$aside"
fi
"$python" -m venv -- "$work" || die "$python -m venv failed"
envspec_requirements >"$work/envspec-requirements.txt"

# pip sees only what this script gives it: no pip.conf, no PIP_* variables
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^PIP_' || true)
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
pip=("$work/bin/python" -m pip install --require-hashes --no-deps
    --timeout "$ENVSPEC_TIMEOUT" --retries "$ENVSPEC_RETRIES")
if [ -n "$pip_cache" ]; then
    pip+=(--cache-dir "$pip_cache")
else
    pip+=(--no-cache-dir)
fi
if [ "$ENVSPEC_ONLY_BINARY" = 1 ]; then
    pip+=(--only-binary :all:)
fi
host_of() { local rest="${1#*://}"; rest="${rest%%/*}"; printf '%s\n' "${rest%%:*}"; }

installed=0
if [ -n "$offline" ]; then
    say "installing from $offline (offline)"
    "${pip[@]}" --no-index --find-links "$offline" -r "$work/envspec-requirements.txt" \
        >"$work/envspec-pip.log" 2>&1 && installed=1
    [ "$installed" = 1 ] || { tail -n 5 "$work/envspec-pip.log" >&2; die "the offline install failed"; }
else
    extra=()
    for url in "${ENVSPEC_EXTRA_INDEXES[@]}"; do
        extra+=(--extra-index-url "$url")
        case "$url" in http://*) extra+=(--trusted-host "$(host_of "$url")") ;; esac
    done
    for mirror in "${mirrors[@]}"; do
        if [ -n "$mirror" ]; then
            source_args=(--index-url "$mirror")
            case "$mirror" in http://*) source_args+=(--trusted-host "$(host_of "$mirror")") ;; esac
            label="$mirror"
        else
            source_args=()
            label="the installer's default index"
        fi
        say "installing $ENVSPEC_PACKAGE_COUNT locked packages from $label"
        if "${pip[@]}" "${source_args[@]}" "${extra[@]}" -r "$work/envspec-requirements.txt" \
            >"$work/envspec-pip.log" 2>&1; then
            installed=1
            break
        fi
        if grep -q 'DO NOT MATCH THE HASHES' "$work/envspec-pip.log"; then
            say "REFUSED $label: it served files whose sha256 differs from the lock (tampered or corrupted)"
        else
            say "$label failed: $(grep -v '^ *$' "$work/envspec-pip.log" | tail -n 1)"
        fi
    done
    [ "$installed" = 1 ] || die "no mirror could install the locked packages; $final is as it was"
fi

# 5. Runtime flags: the start-up hook for code-only torch settings, env vars in the activate scripts.
site="$("$work/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$ENVSPEC_HAS_HOOK" = 1 ]; then
    envspec_hook_module >"$site/envspec_startup.py"
    printf 'import envspec_startup\n' >"$site/envspec-startup.pth"
fi
envspec_activate_sh >>"$work/bin/activate"
if [ -f "$work/bin/activate.fish" ]; then
    envspec_activate_fish >>"$work/bin/activate.fish"
fi
envspec_lock_text >"$work/envspec-lock.toml"
rm -f -- "$work/envspec-pip.log"

# 6. Done: stamp it, and drop the environment it replaces.
printf '%s %s\n' "$ENVSPEC_ENV_ID" "$ENVSPEC_LOCK_SHA256" >"$work/envspec-stamp"
work=""
if [ -n "$aside" ]; then rm -rf -- "$aside"; fi

say "ready: environment $ENVSPEC_ENV_ID at $final"
# the hints are commands to paste: the prefix is shell-quoted, whatever characters it holds
say "activate it with: source $(printf '%q' "$final/bin/activate")"
say "check it with:    envspec verify --python $(printf '%q' "$final/bin/python")"
