#!/usr/bin/env bash
# Print the path of a working Python 3.10 (Rasa 3.6 needs exactly 3.10).
# Order: $PYTHON310, python3.10 on PATH, pyenv's 3.10.x. pyenv's bare python3.10 shim exists on
# some machines but fails unless a version is selected, so every candidate is actually run.
set -u
works() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
if [ -n "${PYTHON310:-}" ]; then
  if works "$PYTHON310"; then echo "$PYTHON310"; exit 0; fi
  echo "PYTHON310=$PYTHON310 is not a working Python 3.10" >&2
fi
if command -v python3.10 >/dev/null 2>&1 && works python3.10; then command -v python3.10; exit 0; fi
if command -v pyenv >/dev/null 2>&1; then
  for candidate in $(ls -d "$(pyenv root)"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
    if works "$candidate"; then echo "$candidate"; exit 0; fi
  done
fi
cat >&2 <<'MSG'
找不到 Python 3.10。Rasa 3.6 只能在 Python 3.10 上运行。
No working Python 3.10 found; Rasa 3.6 runs only on Python 3.10. Install one of:
  - Debian/Ubuntu:  apt-get install python3.10 python3.10-venv   (deadsnakes PPA on Ubuntu)
  - pyenv:          pyenv install 3.10.13
  - or point PYTHON310 at an interpreter:  make install PYTHON310=/path/to/python3.10
MSG
exit 1
