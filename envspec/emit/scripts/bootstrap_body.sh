# ---- the fixed part of every bootstrap.sh (the data above it differs per lock) ----

usage() {
    cat <<'USAGE'
Usage: bash bootstrap.sh [--prefix DIR] [--python PATH] [--mirror URL]... [--offline DIR] [--jobs N]
                         [--installer auto|uv|pip] [--cache DIR] [--no-swap] [--no-host-check]
                         [--variant NAME]

Creates (or brings up to date) a virtual environment holding exactly the locked packages.

  --prefix DIR    where the environment goes (default: the lock's [targets.venv] prefix)
  --python PATH   the interpreter to build it with (default: pythonX.Y, then python3, from PATH)
  --mirror URL    one more index to fetch locked files from, after the URLs the lock recorded and
                  the lock's other indexes (repeatable, tried in order)
  --offline DIR   fetch the locked files from DIR only (hash-checked), with no network at all
  --jobs N        download N files at a time (default: 4)
  --installer X   what installs the fetched files: uv, pip, or auto (the default): uv when a uv on
                  PATH runs, else pip
  --cache DIR     keep the installer's cache in DIR (default: none kept); --pip-cache DIR is the same
  --no-swap       build directly at DIR, which must not exist yet (container builds: a killed
                  build leaves a half-built DIR); by default DIR is a link, switched at the end
  --no-host-check build even where this machine's NVIDIA driver is older than the lock's CUDA build
                  needs (for another machine); by default that is refused before any download
                  (ENVSPEC_CUDA_DRIVER=VERSION or none replaces the driver's detection,
                  ENVSPEC_GPU_ARCH=8.6,9.0 or none the GPUs')
  --variant NAME  a lock of several torch builds: install this one; by default the first build, in
                  the lock's order, that this machine's driver and GPUs run (cpu runs anywhere)

Every file is checked against the lock's size and sha256 before the installer sees it. The
environment itself lives in DIR.envspec/<lock hash> and DIR links to it: a run that is killed at any
moment leaves the old environment at DIR or the complete new one, and the next run cleans up after it.
USAGE
}

say() { printf 'envspec: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

prefix="$ENVSPEC_DEFAULT_PREFIX"
python=""
offline=""
cache=""
installer=auto
jobs=4
swap=1
host_check=1
variant=""
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
        --jobs) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; jobs="$2"; shift 2 ;;
        --jobs=*) jobs="${1#*=}"; shift ;;
        --installer) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; installer="$2"; shift 2 ;;
        --installer=*) installer="${1#*=}"; shift ;;
        --cache|--pip-cache) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; cache="$2"; shift 2 ;;
        --cache=*|--pip-cache=*) cache="${1#*=}"; shift ;;
        --no-swap) swap=0; shift ;;
        --no-host-check) host_check=0; shift ;;
        --variant) [ "$#" -ge 2 ] || { usage >&2; exit 2; }; variant="$2"; shift 2 ;;
        --variant=*) variant="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) say "unknown argument: $1"; usage >&2; exit 2 ;;
    esac
done
[ -n "$prefix" ] || die "--prefix must not be empty"
case "$jobs" in ''|*[!0-9]*|0) say "--jobs needs a whole number above 0"; exit 2 ;; esac
case "$installer" in auto|uv|pip) ;; *) say "--installer takes auto, uv or pip, not $installer"; exit 2 ;; esac
if [ -n "$offline" ]; then
    [ -d "$offline" ] || die "--offline $offline is not a folder"
    offline="$(cd -- "$offline" && pwd -P)"
fi

mkdir -p -- "$(dirname -- "$prefix")"
final="$(cd -- "$(dirname -- "$prefix")" && pwd -P)/$(basename -- "$prefix")"
# Python's own bin/activate writes the prefix inside double quotes: $, ` and \ there would run as code
case "$final" in
    *[\$\`\\\"]*) die "the prefix $final holds \$, \`, \\ or a double quote, which Python's activate script would run as code" ;;
esac
store="$final.envspec"

# The machine's NVIDIA driver and GPUs, for the checks below (and the choice of a torch build).
driver_here() {
    local found=""
    if [ -n "${ENVSPEC_CUDA_DRIVER:-}" ]; then printf '%s\n' "$ENVSPEC_CUDA_DRIVER"; return; fi
    if command -v nvidia-smi >/dev/null 2>&1; then
        found="$({ timeout 15 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null \
            || true; } | head -n 1 | tr -d ' \r')"
    fi
    if [ -z "$found" ] && [ -r /proc/driver/nvidia/version ]; then
        found="$(sed -n 's/^NVRM version:.*[[:space:]]\([0-9]\{3\}\(\.[0-9]\{1,3\}\)\{0,2\}\)[[:space:]].*/\1/p' \
            /proc/driver/nvidia/version | head -n 1)"
    fi
    printf '%s\n' "$found"
}
version_below() {  # whether the dotted version $1 is below $2, part by part
    local i a b
    IFS=. read -r -a a <<<"$1"
    IFS=. read -r -a b <<<"$2"
    for i in 0 1 2; do
        if ((10#${a[i]:-0} < 10#${b[i]:-0})); then return 0; fi
        if ((10#${a[i]:-0} > 10#${b[i]:-0})); then return 1; fi
    done
    return 1
}
gpus_here() {  # each GPU's compute capability, one a line (none where nvidia-smi cannot say)
    if [ -n "${ENVSPEC_GPU_ARCH:-}" ]; then
        [ "$ENVSPEC_GPU_ARCH" = none ] || printf '%s\n' "$ENVSPEC_GPU_ARCH" | tr ',' '\n' | tr -d ' '
        return
    fi
    if command -v nvidia-smi >/dev/null 2>&1; then
        { timeout 15 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true; } \
            | tr -d ' \r' | grep -E '^[0-9]{1,2}\.[0-9]$' || true
    fi
}
capability_number() {  # "8.6", "86" or "sm_86" -> 86 (major * 10 + minor); empty when malformed
    local value="${1#sm_}"
    case "$value" in
        [1-9].[0-9]|[1-9][0-9].[0-9]) printf '%s\n' "$((10#${value%.*} * 10 + ${value#*.}))" ;;
        [1-9][0-9]|[1-9][0-9][0-9]) printf '%s\n' "$((10#$value))" ;;
    esac
}
read_gpus() {  # gpus=(each GPU's capability as a number: 86); a malformed ENVSPEC_GPU_ARCH is exit 2
    local gpu number
    gpus=()
    while IFS= read -r gpu; do
        [ -n "$gpu" ] || continue
        number="$(capability_number "$gpu")"
        if [ -z "$number" ]; then
            say "ENVSPEC_GPU_ARCH: $gpu is not a compute capability (e.g. 8.6, 86 or sm_86; or none)"
            exit 2
        fi
        gpus+=("$number")
    done < <(gpus_here)
}
gpu_outside() {  # whether a GPU of capability $1 (a number, e.g. 86) lacks kernels in sm_$2..sm_$3
    [ -n "$2" ] && [ -n "$3" ] || return 1
    [ "$1" -lt "$2" ] || { [ "$1" -gt "$3" ] && [ "$(($1 / 10))" != "$(($3 / 10))" ]; }
}

# 0. A lock of several torch builds: the one to install (--variant, or the first this machine runs).
if [ "${#ENVSPEC_VARIANTS[@]}" -gt 0 ]; then
    chosen=""
    if [ -n "$variant" ]; then
        for i in "${!ENVSPEC_VARIANTS[@]}"; do
            if [ "${ENVSPEC_VARIANTS[i]}" = "$variant" ]; then chosen="$i"; fi
        done
        if [ -z "$chosen" ]; then
            say "--variant $variant: the lock has the builds ${ENVSPEC_VARIANTS[*]}"
            exit 2
        fi
        say "build $variant: chosen with --variant"
    elif [ "$host_check" = 0 ]; then
        chosen=0
        say "build ${ENVSPEC_VARIANTS[0]}: the lock's first (--no-host-check)"
    else
        driver="$(driver_here)"
        case "$driver" in
            ''|none) driver="" ;;
            *[!0-9.]*|.*|*.) say "ENVSPEC_CUDA_DRIVER=$driver is not a driver version (e.g. 535.129.03, or none)"; exit 2 ;;
        esac
        gpus=()
        if [ -n "$driver" ]; then read_gpus; fi
        for i in "${!ENVSPEC_VARIANTS[@]}"; do
            name="${ENVSPEC_VARIANTS[i]}" floor="${ENVSPEC_VARIANT_MIN_DRIVER[i]}"
            low="$(capability_number "${ENVSPEC_VARIANT_ARCH_MIN[i]}")"
            high="$(capability_number "${ENVSPEC_VARIANT_ARCH_MAX[i]}")"
            why=""
            cuda=0
            case "$name" in cu[0-9]*) cuda=1 ;; esac
            if [ "$cuda" = 0 ]; then
                why="runs on any machine"
            elif [ -z "$driver" ]; then
                say "build $name skipped: it needs an NVIDIA driver${floor:+ >= $floor}, and there is none here"
                continue
            elif [ -n "$floor" ] && version_below "$driver" "$floor"; then
                say "build $name skipped: it needs an NVIDIA driver >= $floor, and this one is $driver"
                continue
            else
                why="driver $driver${floor:+ >= $floor}"
                outside=""
                for number in ${gpus[@]+"${gpus[@]}"}; do
                    if gpu_outside "$number" "$low" "$high"; then outside="sm_$number"; fi
                done
                if [ -n "$outside" ]; then
                    say "build $name skipped: it has kernels for sm_$low to sm_$high, and a GPU here is $outside"
                    continue
                fi
                if [ "${#gpus[@]}" -gt 0 ] && [ -n "$low" ]; then why="$why; GPUs within sm_$low to sm_$high"; fi
            fi
            chosen="$i"
            say "build $name: $why"
            break
        done
        if [ -z "$chosen" ]; then
            say "error: none of the lock's builds (${ENVSPEC_VARIANTS[*]}) runs on this machine; nothing was downloaded"
            say "pass --variant NAME to build one for another machine, or lock a build this machine runs (envspec host names them)"
            exit 1
        fi
        host_check=0  # the build was chosen by these very checks
    fi
    variant="${ENVSPEC_VARIANTS[chosen]}"
    ENVSPEC_ENV_ID="${ENVSPEC_VARIANT_ENV_ID[chosen]}"
    ENVSPEC_PACKAGE_COUNT="${ENVSPEC_VARIANT_PACKAGE_COUNT[chosen]}"
    ENVSPEC_MIN_DRIVER="${ENVSPEC_VARIANT_MIN_DRIVER[chosen]}"
    ENVSPEC_ARCH_MIN="${ENVSPEC_VARIANT_ARCH_MIN[chosen]}"
    ENVSPEC_ARCH_MAX="${ENVSPEC_VARIANT_ARCH_MAX[chosen]}"
    tag="${ENVSPEC_LOCK_SHA256:0:16}-$variant"
elif [ -n "$variant" ]; then
    say "--variant $variant: this lock holds one torch build"
    exit 2
else
    tag="${ENVSPEC_LOCK_SHA256:0:16}"
fi
# the locked files of this build: the manifest's lines, less a lock of builds' first column
manifest() {
    local builds line
    if [ "${#ENVSPEC_VARIANTS[@]}" = 0 ]; then envspec_manifest; return; fi
    while IFS= read -r line; do
        builds="${line%% *}"
        case ",$builds," in ",*,"|*",$variant,"*) printf '%s\n' "${line#* }" ;; esac
    done < <(envspec_manifest)
}

is_current() {
    [ -x "$1/bin/python" ] && [ -f "$1/envspec-stamp" ] \
        && [ "$(cat -- "$1/envspec-stamp")" = "$ENVSPEC_ENV_ID $ENVSPEC_LOCK_SHA256" ]
}

# What a killed run may have left in the store: anything but the environment the prefix links to.
leftovers() {
    local current entry
    current="$(readlink -- "$final" 2>/dev/null || true)"
    for entry in "$store"/* "$store"/.link.*; do
        if [ -e "$entry" ] || [ -L "$entry" ]; then
            if [ "$(basename -- "$final").envspec/$(basename -- "$entry")" != "$current" ]; then
                printf '%s\n' "$entry"
            fi
        fi
    done
}

# 1. Already the locked environment, and nothing left over to clean? Then there is nothing to do.
if is_current "$final" && [ -z "$(leftovers)" ]; then
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

# 3. The installer: uv when asked for, or (auto) when a uv on PATH runs; pip otherwise. Neither sees
#    a setting this script did not give it: no configuration file, no PIP_* or UV_* variable.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(PIP|UV)_' || true)
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
uv=""
installer_name=pip
if [ "$installer" != pip ]; then
    if uv="$(type -P uv)" && installer_name="$("$uv" --version </dev/null 2>/dev/null)"; then
        installer=uv
        installer_name="${installer_name%% (*}"
    elif [ "$installer" = uv ]; then
        die "--installer uv: there is no uv on PATH that runs; install uv, or pass --installer pip"
    else
        installer=pip
        installer_name=pip
    fi
fi

# 4. System packages this script cannot install (no root needed here): check and report.
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

# 4b. The NVIDIA driver: a CUDA build that the driver here cannot run is refused before anything is
#     downloaded. No driver at all (a build host, an image build) is no error: the environment is
#     built, and runs where a driver at or above the floor is.
if [ -n "$ENVSPEC_ARCH_MIN" ] && [ -n "$ENVSPEC_ARCH_MAX" ] && [ "$host_check" = 1 ]; then
    low="$(capability_number "$ENVSPEC_ARCH_MIN")"
    high="$(capability_number "$ENVSPEC_ARCH_MAX")"
    read_gpus
    for number in ${gpus[@]+"${gpus[@]}"}; do
        if gpu_outside "$number" "$low" "$high"; then
            say "error: a GPU here is sm_$number; the lock's CUDA build has kernels for sm_$low to sm_$high only; nothing was downloaded"
            say "lock a build whose kernels cover it (envspec host names them), or pass --no-host-check to build for another machine"
            exit 1
        fi
    done
fi
if [ -n "$ENVSPEC_MIN_DRIVER" ] && [ "$host_check" = 1 ]; then
    driver="$(driver_here)"
    case "$driver" in
        ''|none) say "no NVIDIA driver here: building anyway; the CUDA build runs where a driver >= $ENVSPEC_MIN_DRIVER is" ;;
        *[!0-9.]*|.*|*.) say "ENVSPEC_CUDA_DRIVER=$driver is not a driver version (e.g. 535.129.03, or none)"; exit 2 ;;
        *)
            if version_below "$driver" "$ENVSPEC_MIN_DRIVER"; then
                say "error: the NVIDIA driver here ($driver) is older than $ENVSPEC_MIN_DRIVER, which the lock's CUDA build needs; nothing was downloaded"
                say "upgrade the driver, lock a build for an older CUDA, or pass --no-host-check to build for another machine"
                exit 1
            fi ;;
    esac
fi

# 5. Children (venv, the fetcher, the installer) run in the background so that a signal reaches this
#    script at once, each under a small supervisor that kills everything the child started when this
#    script stops or dies, even by SIGKILL.
supervisor="$(envspec_supervise_py)"
children=()
start_child() {
    "$python" -I -c "$supervisor" "$$" "$@" &
    children+=("$!")
}
wait_child() {
    local status=0 pid kept=()
    wait "$1" || status=$?
    for pid in "${children[@]}"; do if [ "$pid" != "$1" ]; then kept+=("$pid"); fi; done
    children=(${kept[@]+"${kept[@]}"})
    return "$status"
}
run_child() { start_child "$@"; wait_child "$!"; }
replace_path() { "$python" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$1" "$2"; }

# 6. One run at a time per prefix. A killed run's leftovers are dealt with here: an environment it
#    had set aside goes back to the prefix, half-built ones go away.
work=""
aside=""
cleanup() {
    for pid in ${children[@]+"${children[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in ${children[@]+"${children[@]}"}; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$work" ]; then rm -rf -- "$work"; fi
    if [ -n "$aside" ] && [ ! -e "$final" ] && [ ! -L "$final" ]; then mv -- "$aside" "$final"; fi
    # a store that holds nothing (a first build that failed) goes too
    if [ -d "$store" ] && [ ! -L "$final" ] && [ -z "$(leftovers)" ]; then
        rm -f -- "$store/.lock"
        rmdir -- "$store" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [ "$swap" = 1 ]; then
    if [ -e "$final" ] && [ ! -L "$final" ] && [ ! -f "$final/envspec-stamp" ]; then
        if [ -d "$final" ] && [ -z "$(ls -A -- "$final")" ]; then
            rmdir -- "$final"
        else
            die "$final exists and is not an environment built by envspec; move it away or pass another --prefix"
        fi
    fi
    mkdir -p -- "$store"
    exec 9>>"$store/.lock"
    if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
        say "waiting for another bootstrap.sh building $final (or the processes of a killed one) to finish"
        flock -w 600 9 || die "$store/.lock is still held after 10 minutes; is another bootstrap.sh running?"
    fi
    if [ ! -e "$final" ] && [ ! -L "$final" ]; then
        for old in "$store"/old.*; do
            if [ -d "$old" ] && [ -f "$old/envspec-stamp" ]; then
                mv -- "$old" "$final"
                say "restored the environment a killed run had set aside at $old"
                break
            fi
        done
    fi
    while IFS= read -r entry; do
        if [ "$(basename -- "$entry")" != "$tag" ] || is_current "$final"; then
            say "removing what a killed run left behind: $entry"
            rm -rf -- "$entry"
        fi
    done < <(leftovers)
    if is_current "$final"; then
        say "$final is already environment $ENVSPEC_ENV_ID: nothing to do"
        exit 0
    fi
    build="$store/$tag"
    if is_current "$build"; then
        say "a killed run had finished building $build: using it"
    else
        rm -rf -- "$build"
        work="$build"
    fi
else
    if [ -e "$final" ] || [ -L "$final" ]; then die "--no-swap needs a prefix that does not exist yet: $final does"; fi
    build="$final"
    work="$build"
fi

# 7. Build: a venv, the locked files fetched and checked, the installer installing exactly those (no
#    resolution, no index, no other file).
if [ -n "$work" ]; then
    scratch="$work/.envspec-build"
    mkdir -p -- "$scratch/files"
    manifest >"$scratch/manifest.txt"
    envspec_fetch_py >"$scratch/fetch.py"
    direct=0
    if [ "$installer" = uv ] && [ -z "$offline" ] && [ "${#mirrors[@]}" = 0 ]; then
        # uv first, straight from the lock (it picks this machine's wheels, downloads them natively
        # and checks every sha256, installing nothing on a mismatch); anything it cannot do (a dead
        # mirror, a tampered file, an older uv without PEP 751) falls back to the fetcher below,
        # which fails over file by file.
        envspec_lock_text >"$scratch/pylock.toml"
        run_child "$python" -m venv --without-pip -- "$work" || die "$python -m venv failed"
        timeout_s="${ENVSPEC_TIMEOUT%.*}"
        say "installing $ENVSPEC_PACKAGE_COUNT locked packages with $installer_name, from the lock's URLs"
        started=$SECONDS
        direct_install=(env "UV_HTTP_TIMEOUT=$((${timeout_s:-0} > 0 ? timeout_s : 1))" "$uv" pip install
            --no-config --python "$work/bin/python" --no-index --cache-dir "${cache:-$scratch/uv-cache}")
        if [ "$ENVSPEC_ONLY_BINARY" = 1 ]; then direct_install+=(--only-binary :all:); fi
        if [ "${#ENVSPEC_VARIANTS[@]}" -gt 0 ]; then direct_install+=(--extra "$variant"); fi
        if run_child "${direct_install[@]}" -r "$scratch/pylock.toml" >"$scratch/install.log" 2>&1; then
            direct=1
            say "installed $ENVSPEC_PACKAGE_COUNT packages in $((SECONDS - started)) s"
        else
            say "uv could not install straight from the lock: $(grep -v '^ *$' "$scratch/install.log" | tail -n 1)"
            say "fetching each file instead, with failover between the lock's indexes"
            # a fresh venv for the fallback: nothing of the failed attempt stays
            find "$work" -mindepth 1 -maxdepth 1 ! -name .envspec-build -exec rm -rf -- {} +
        fi
    fi
    if [ "$direct" = 0 ]; then
        # the venv is made while the files are fetched, by the interpreter it is made from (so the
        # wheel tags are the venv's): uv installs from outside it, so it gets no pip; pip's own
        # (ensurepip takes seconds) is put in meanwhile
        if [ "$installer" = uv ]; then
            start_child "$python" -m venv --without-pip -- "$work"
        else
            start_child "$python" -m venv -- "$work"
        fi
        venv_child=$!
        fetch=("$python" -I "$scratch/fetch.py" --installer "$installer" --manifest "$scratch/manifest.txt"
            --requirements "$scratch/install.txt"
            --dest "$scratch/files" --timeout "$ENVSPEC_TIMEOUT" --retries "$ENVSPEC_RETRIES" --jobs "$jobs")
        if [ -n "$offline" ]; then
            fetch+=(--offline "$offline")
        else
            for url in "${ENVSPEC_MIRRORS[@]}" "${ENVSPEC_EXTRA_INDEXES[@]}"; do fetch+=(--lock-index "$url"); done
            for url in "${mirrors[@]}"; do fetch+=(--mirror "$url"); done
        fi
        run_child "${fetch[@]}" || die "the locked files could not be fetched; $final is as it was"
        wait_child "$venv_child" || die "$python -m venv failed"

        if [ "$installer" = uv ]; then
            # a cache of its own inside the build (gone with it), unless --cache names one
            install=("$uv" pip install --no-config --python "$work/bin/python" --require-hashes --no-deps
                --no-index --offline --cache-dir "${cache:-$scratch/uv-cache}")
            hint=" (--installer pip installs with pip instead)"
        else
            install=("$work/bin/python" -m pip install --require-hashes --no-deps --no-index
                --timeout "$ENVSPEC_TIMEOUT" --retries "$ENVSPEC_RETRIES")
            if [ -n "$cache" ]; then install+=(--cache-dir "$cache"); else install+=(--no-cache-dir); fi
            hint=""
        fi
        if [ "$ENVSPEC_ONLY_BINARY" = 1 ]; then install+=(--only-binary :all:); fi
        say "installing $ENVSPEC_PACKAGE_COUNT locked packages with $installer_name"
        started=$SECONDS
        if ! run_child "${install[@]}" -r "$scratch/install.txt" >"$scratch/install.log" 2>&1; then
            tail -n 15 "$scratch/install.log" >&2
            die "$installer could not install the fetched files; $final is as it was$hint"
        fi
        say "installed $ENVSPEC_PACKAGE_COUNT packages in $((SECONDS - started)) s"
    fi

    # Runtime flags: the start-up hook (torch settings, and the variables Python can still set),
    # every variable in the activate scripts.
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
    if [ "${#ENVSPEC_VARIANTS[@]}" -gt 0 ]; then printf '%s\n' "$variant" >"$work/envspec-variant"; fi
    rm -rf -- "$scratch"
    # the stamp goes last: only a complete environment has one
    printf '%s %s\n' "$ENVSPEC_ENV_ID" "$ENVSPEC_LOCK_SHA256" >"$work/envspec-stamp"
    work=""
fi

# 8. Switch: the prefix becomes a link to the new environment in one rename, then the old one goes.
if [ "$swap" = 1 ]; then
    link="$store/.link.$$"
    rm -f -- "$link"
    ln -s -- "$(basename -- "$final").envspec/$tag" "$link"
    if [ -d "$final" ] && [ ! -L "$final" ]; then
        aside="$store/old.$$"
        mv -- "$final" "$aside"
    fi
    replace_path "$link" "$final"
    if [ -n "$aside" ]; then rm -rf -- "$aside"; aside=""; fi
    while IFS= read -r entry; do rm -rf -- "$entry"; done < <(leftovers)
fi

say "ready: environment $ENVSPEC_ENV_ID${variant:+ (torch build $variant)} at $final"
# the hints are commands to paste: the prefix is shell-quoted, whatever characters it holds
say "activate it with: source $(printf '%q' "$final/bin/activate")"
say "check it with:    envspec verify --python $(printf '%q' "$final/bin/python")"
