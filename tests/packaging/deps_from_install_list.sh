#!/usr/bin/env bash
# Checks that everything CMake found while configuring BUILD_DIR comes from a Debian package that
# scripts/install-deps.sh installs, or from a hard dependency of one (Depends/Pre-Depends; never a
# Recommends, since the script installs with --no-install-recommends). A file found only because
# someone once installed a package by hand — how ocl-icd-opencl-dev hid oneDNN's OpenCL lookup —
# fails here on the developer's machine instead of on a newcomer's.
#
#   tests/packaging/deps_from_install_list.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 src_dir=$2
cache="$build_dir/CMakeCache.txt"
[ -f "$cache" ] || { echo "deps_from_install_list: $cache: not found (configure first)" >&2; exit 1; }
if ! command -v dpkg-query >/dev/null || ! command -v apt-cache >/dev/null; then
  echo "NOT RUN: no dpkg/apt on this system; the check only applies to Debian"; exit 0
fi

mapfile -t listed < <(bash "$src_dir/scripts/install-deps.sh" --list)

# The installed closure of the listed packages over Depends and Pre-Depends. Alternatives
# ("a | b") and virtual packages count through whichever installed package satisfies them.
declare -A closure=()
queue=("${listed[@]}")
while [ ${#queue[@]} -gt 0 ]; do
  p=${queue[0]}; queue=("${queue[@]:1}")
  [ -n "${closure[$p]:-}" ] && continue
  closure[$p]=1
  deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$p" 2>/dev/null || true)
  [ -n "$deps" ] || continue
  while IFS= read -r alt; do
    for name in $(tr '|' '\n' <<<"$alt" | sed 's/(.*)//; s/:any//; s/[[:space:]]//g'); do
      [ -n "$name" ] || continue
      # a real installed package, or the installed packages that provide a virtual one
      if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
        queue+=("$name")
      else
        for prov in $(dpkg-query -W -f='${Package} ${Provides}\n' 2>/dev/null |
                      awk -v n="$name" '{for (i = 2; i <= NF; ++i) { gsub(/[,(].*/, "", $i); if ($i == n) print $1 }}'); do
          queue+=("$prov")
        done
      fi
    done
  done < <(tr ',' '\n' <<<"$deps")
done

owner_of() {  # the packages owning a path, one per line (empty when no package owns it)
  { dpkg-query -S "$1" 2>/dev/null || true; } | sed 's/: .*//' | tr ',' '\n' | sed 's/:.*//; s/^[[:space:]]*//' | sort -u
}

bad=0 checked=0
# Every absolute path CMake cached as a FILEPATH (libraries, headers, programs) or a *_DIR
# (package config directories), outside the build and source trees.
while IFS= read -r entry; do
  key=${entry%%:*} value=${entry#*=}
  case "$value" in /*) ;; *) continue ;; esac
  case "$key" in CMAKE_INSTALL_*) continue ;; esac   # where to install, not something found
  case "$value" in "$build_dir"*|"$src_dir"*) continue ;; esac
  [ -e "$value" ] || continue
  owners=$(owner_of "$value"); [ -n "$owners" ] || owners=$(owner_of "$(readlink -f "$value")")
  if [ -z "$owners" ]; then
    [ -d "$value" ] && continue   # a directory no package claims (/usr/local): nothing was found there
    echo "FAIL $key=$value: no Debian package owns it (installed by hand?)"; bad=1; continue
  fi
  ok=0
  for o in $owners; do [ -n "${closure[$o]:-}" ] && ok=1; done
  checked=$((checked + 1))
  if [ $ok = 0 ]; then
    echo "FAIL $key=$value comes from $(echo $owners | tr ' ' ','), which scripts/install-deps.sh does not install (add it there)"
    bad=1
  fi
done < <(grep -E '^[A-Za-z0-9_.-]+:(FILEPATH|PATH)=|^[A-Za-z0-9_]+_DIR:[A-Z]+=' "$cache" | sort -u)

echo "deps_from_install_list: ${#listed[@]} listed packages, ${#closure[@]} in their closure, $checked paths checked"
[ $bad = 0 ] && echo "every dependency the build found comes from scripts/install-deps.sh"
exit $bad
