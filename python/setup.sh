#!/usr/bin/env bash
# python/setup.sh: makes python/.venv with the pinned requirements, when it is missing or
# older than requirements.txt; otherwise does nothing (a few milliseconds). run_all.sh
# --python, the conformance tests of the Python servers and CI all call it, so nobody sets
# up Python by hand.
#
# Needs python3 >= 3.10 with its venv module (python3-venv on Debian, installed here with
# apt-get when running as root) and PyPI for the first install.
#
# Usage: python/setup.sh [--versions] [-h|--help]
#   --versions   then print one line of the interpreter's and the servers' packages'
#                versions (what a run records)
# Environment: PYTHON, the interpreter to make the venv from [python3]
# Output: a line on stderr when it installs.
# Exit status: 0 when python/.venv is ready; 3 when no usable python3 exists here (the one
# line says why: callers show it and skip the Python servers); 1 when the set-up failed
# (pip's own output is on stderr); 2 for a bad argument.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$here/.venv
requirements=$here/requirements.txt
# Written after a complete install: the requirements it installed.
stamp=$venv/.requirements.sha256
python=${PYTHON:-python3}
versions=0

case ${1:-} in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  --versions) versions=1 ;;
  "") ;;
  *) echo "setup.sh: unknown argument $1 (--help lists the flags)" >&2; exit 2 ;;
esac

# The servers' frameworks, each with its HTTP server and upstream client, and the two TLS
# stacks of an https:// upstream: Python's ssl (the system's OpenSSL) and libcurl's own.
print_versions() {
  "$venv/bin/python" - <<'PY'
import ssl
import sys
from importlib.metadata import version as v

import pycurl

curl = pycurl.version_info()
print(f"Python {sys.version.split()[0]}; "
      f"Flask {v('Flask')} (gunicorn {v('gunicorn')}, requests {v('requests')}), "
      f"Starlette {v('starlette')} (uvicorn {v('uvicorn')}, httpx {v('httpx')}), "
      f"tornado {v('tornado')} (pycurl {v('pycurl')}); "
      f"TLS: Python's ssl on {ssl.OPENSSL_VERSION} (Flask, Starlette), libcurl {curl[1]} on {curl[5]} (tornado)")
PY
}

unavailable() { echo "python: $1" >&2; exit 3; }

want=$(sha256sum "$requirements" | cut -d' ' -f1)
# Ready: nothing to do, and no lock needed to see it.
if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  (( versions )) && print_versions
  exit 0
fi

command -v "$python" >/dev/null || unavailable "no $python on PATH: the Python servers (flask, starlette, tornado) need Python >= 3.10 (Debian: apt-get install python3 python3-venv)"
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || unavailable "$python is Python $version; the pinned requirements need >= 3.10"
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "python: installing python3-venv (apt-get)" >&2
    { apt-get install -y -qq python3-venv >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }; } \
      || unavailable "$python has no venv module and apt-get could not install python3-venv"
  else
    unavailable "$python has no venv module (Debian: apt-get install python3-venv)"
  fi
fi

# One set-up at a time (tests run in parallel); the second one finds the venv ready.
mkdir -p "$venv"
exec 9>"$venv/.lock"
flock 9
if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  (( versions )) && print_versions
  exit 0
fi
rm -f "$stamp"
echo "python: setting up $venv (Python $version, $(grep -c '==' "$requirements") pinned packages from PyPI; about a minute the first time)" >&2
"$python" -m venv "$venv" >&2 || { echo "python: $python -m venv $venv failed" >&2; exit 1; }
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$requirements" >&2; then
  echo "python: pip install -r $requirements failed (its output is above)" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "python: $venv is ready" >&2
(( versions )) && print_versions
exit 0
