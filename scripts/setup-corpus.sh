#!/usr/bin/env bash
# The large English corpus (explorer/corpus/english.py): Debian's dict-gcide package (GCIDE,
# GPL-2.0-or-later, a 15 MB download) unpacked into data/large/gcide/ (apt-get download +
# dpkg-deb -x: no install, so none of its dictd server), then data/large/english.txt written
# from it (111 000 lines, 1.86 M words, 2.6 M word-piece tokens; about 30 s). Building its
# search index is a separate, documented command (docs/library.md): hours on two cores.
#
#   EXPLORER_SETUP_CORPUS=0  skip it
# Without a Debian mirror one line says why and the script exits 0: the app then uses the small
# bundled corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EXPLORER_SETUP_CORPUS:-1}" = "0" ]; then exit 0; fi
mkdir -p data/large/gcide
if [ ! -f data/large/gcide/gcide.dict.dz ] && [ -f /usr/share/dictd/gcide.dict.dz ]; then
  cp /usr/share/dictd/gcide.dict.dz data/large/gcide/
  cp /usr/share/doc/dict-gcide/copyright data/large/gcide/ 2>/dev/null || true
fi
if [ ! -f data/large/gcide/gcide.dict.dz ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download dict-gcide >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; fi
    if ! (cd "$work" && apt-get download dict-gcide >/dev/null 2>&1); then
      echo "setup-corpus: dict-gcide could not be downloaded; the bundled corpus stays the default."
      exit 0
    fi
  fi
  dpkg-deb -x "$work"/dict-gcide_*.deb "$work/unpacked"
  cp "$work/unpacked/usr/share/dictd/gcide.dict.dz" data/large/gcide/
  cp "$work/unpacked/usr/share/doc/dict-gcide/copyright" data/large/gcide/
fi
if [ ! -s data/large/english.txt ]; then
  python -m explorer.corpus.english data/large/english.txt
fi
