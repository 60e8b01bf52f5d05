#!/usr/bin/env bash
# Install the peer tools the store benchmark compares colony against.
#
# Idempotent: anything already installed is left alone. Everything lands outside the
# git tree or in git-ignored paths:
#   bench/.venv/    Python venv: dvc, oxenai (Oxen's Rust core; no CLI, see below), pyarrow, numpy
#   bench/.tools/   `cargo install --root` of b3sum [and oxen-cli] (ignored by bench/.gitignore)
#   system          Debian packages git-lfs and time (GNU time, for peak RSS)
#
# Registries reached: crates.io (b3sum), PyPI (dvc, oxenai, pyarrow, numpy), Debian.
# Exits non-zero with a message naming the tool that could not be installed.
set -uo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$BENCH/.venv"
TOOLS="$BENCH/.tools"
NICE="nice -n 10"

failed=()
say() { printf '[setup] %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; failed+=("$1"); }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root for: $*"; return 1; fi
}

# ---- Debian: git-lfs, GNU time --------------------------------------------------------
apt_updated=0
apt_install() { # pkg
  if dpkg -s "$1" >/dev/null 2>&1; then say "$1: already installed"; return 0; fi
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    as_root apt-get update -qq >/dev/null || { say "apt-get update failed"; return 1; }
    apt_updated=1
  fi
  say "apt-get install $1"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
apt_install git-lfs || fail git-lfs "apt-get install git-lfs failed"
[ -x /usr/bin/time ] || apt_install time || fail time "apt-get install time failed (GNU time measures peak RSS)"
if command -v git-lfs >/dev/null; then
  # No `git lfs install` here: the benchmark runs `git lfs install --local` in its own repos
  # under an isolated HOME, so nobody's ~/.gitconfig is touched.
  say "git-lfs: $(git lfs version 2>&1 | head -1)"
fi

# ---- crates.io: b3sum --------------------------------------------------------------------
if [ -x "$TOOLS/bin/b3sum" ]; then
  say "b3sum: already in $TOOLS/bin"
elif command -v b3sum >/dev/null; then
  say "b3sum: using $(command -v b3sum)"
else
  say "cargo install b3sum --root $TOOLS (a minute or two)"
  if ! $NICE cargo install --quiet --locked --root "$TOOLS" b3sum; then
    fail b3sum "cargo install b3sum failed"
  fi
fi

# ---- PyPI: dvc, oxenai, pyarrow, numpy -------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  python3 -m venv "$VENV" || { fail venv "python3 -m venv failed"; }
fi
if [ -x "$VENV/bin/python" ]; then
  PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  pyinst() { # import-name spec...
    local mod="$1"; shift
    if "$VENV/bin/python" -c "import $mod" >/dev/null 2>&1; then say "$mod: already installed"; return 0; fi
    say "pip install $*"
    $NICE "${PIP[@]}" "$@"
  }
  pyinst numpy numpy || fail numpy "pip install numpy failed"
  pyinst pyarrow pyarrow || fail pyarrow "pip install pyarrow failed"
  if [ -x "$VENV/bin/dvc" ]; then say "dvc: already installed"; else
    say "pip install dvc"; $NICE "${PIP[@]}" dvc || fail dvc "pip install dvc failed"; fi
  if "$VENV/bin/python" -c "import importlib.util as u; exit(u.find_spec('oxen') is None)" 2>/dev/null; then
    say "oxenai: already installed"
  else
    say "pip install oxenai"; $NICE "${PIP[@]}" oxenai || fail oxen "pip install oxenai failed"
  fi
  if [ -x "$VENV/bin/dvc" ]; then say "dvc: $("$VENV/bin/dvc" --version 2>&1 | tail -1)"; fi
  # Oxen: PyPI oxenai 0.65.x ships Oxen's Rust core (liboxen) as a Python extension but NO
  # `oxen` command. The real CLI is crates.io `oxen-cli`; it is a long build (polars, duckdb,
  # rocksdb: C++), so it is opt-in: BENCH_OXEN_CLI=1 bench/setup.sh.
  if [ -x "$TOOLS/bin/oxen" ] || [ -x "$VENV/bin/oxen" ]; then
    say "oxen CLI: present"
  elif [ "${BENCH_OXEN_CLI:-0}" = 1 ]; then
    say "cargo install oxen-cli --root $TOOLS (long: tens of minutes on 2 cores)"
    $NICE cargo install --quiet --locked --root "$TOOLS" oxen-cli || fail oxen-cli "cargo install oxen-cli failed"
  else
    say "WARNING: PyPI oxenai gives no \`oxen\` CLI. The benchmark drives the same Rust core"
    say "         through bench/oxen_shim.py (init/add/commit/status). For the real CLI:"
    say "         BENCH_OXEN_CLI=1 bench/setup.sh   (cargo install oxen-cli, long build)"
    if "$VENV/bin/python" "$BENCH/oxen_shim.py" --version >/dev/null 2>&1; then
      say "oxen shim: $("$VENV/bin/python" "$BENCH/oxen_shim.py" --version)"
    else
      fail oxen "bench/oxen_shim.py cannot load oxenai's core"
    fi
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  say "FAILED: ${failed[*]}  (store-bench.sh skips tools that are missing and says so)"
  exit 1
fi
say "all peer tools ready. PATH for them: $TOOLS/bin:$VENV/bin"
