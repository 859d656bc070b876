#!/usr/bin/env bash
# Browser tests drive Debian's chromium through Playwright (Playwright's own download cannot work
# offline). Install it when missing and we are root; otherwise say what to do.
set -eu
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "安装 Debian chromium (installing Debian's chromium for the browser tests)…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "需要 /usr/bin/chromium：请运行 sudo apt-get install chromium (browser tests need Debian's chromium)" >&2
  exit 1
fi
