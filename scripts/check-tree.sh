#!/usr/bin/env bash
# check-tree: fails, listing them, when the git index tracks what must never
# be committed: an executable binary (ELF, Mach-O, PE, or any file with the
# executable bit whose start holds a NUL byte), a file over 5 MiB, or build
# and run output (anything under .data/ or bin/, *.test, *.out). Run by
# `make lint` and at the start of scripts/test.sh, so CI catches it.
#
# Binaries are told by their first bytes, not by file(1): Debian does not
# install file(1) by default, and the check must answer alike everywhere.
# It reads what the index holds: the work tree's copy when git says it is
# unchanged (no process per file), else the staged blob.
set -euo pipefail
export LC_ALL=C # bytes, not characters
cd "$(dirname "$0")/.."

if [ ! -e .git ]; then
  echo "check-tree: not a git checkout (a source archive?), nothing to check" >&2
  exit 0
fi
# In a checkout, git must answer (e.g. not refuse a repository owned by
# another user): a check that cannot run fails rather than pass.
git rev-parse --is-inside-work-tree >/dev/null

max=$((5 * 1024 * 1024))

modes=() blobs=() paths=()
while IFS= read -r -d '' entry; do
  meta=${entry%%$'\t'*} # "mode blob stage"
  mode=${meta%% *} blob=${meta#* } blob=${blob%% *}
  [ "$mode" = 160000 ] && continue # a submodule: no blob here
  modes+=("$mode") blobs+=("$blob") paths+=("${entry#*$'\t'}")
done < <(git ls-files --stage -z)

sizes=()
if [ ${#blobs[@]} -gt 0 ]; then
  mapfile -t sizes < <(printf '%s\n' "${blobs[@]}" | git cat-file --batch-check='%(objectsize)')
fi

declare -A changed=()
while IFS= read -r -d '' p; do changed[$p]=1; done < <(git diff-files --name-only -z)

# read_magic i sets magic to the hex of blob i's first 4 bytes (from the
# work tree, read stops at a NUL byte, which no magic number below holds).
read_magic() {
  local i=$1 p=${paths[$1]} m='' c h
  magic=''
  if [ -z "${changed[$p]:-}" ] && [ -f "$p" ] && [ ! -L "$p" ]; then
    IFS= read -r -n 4 -d '' m <"$p" || true
    for ((c = 0; c < ${#m}; c++)); do printf -v h '%02x' "'${m:c:1}"; magic+=$h; done
    return
  fi
  magic=$(set +o pipefail; git cat-file blob "${blobs[$i]}" | head -c 4 | od -An -v -tx1 | tr -d ' \n')
}

# has_nul i: the first 8000 bytes of blob i hold a NUL byte.
has_nul() {
  local all text
  all=$(set +o pipefail; git cat-file blob "${blobs[$1]}" | head -c 8000 | wc -c)
  text=$(set +o pipefail; git cat-file blob "${blobs[$1]}" | head -c 8000 | tr -d '\000' | wc -c)
  [ "$all" != "$text" ]
}

bad=()
for i in "${!paths[@]}"; do
  path=${paths[$i]} mode=${modes[$i]} size=${sizes[$i]:-0}
  why=()
  case "/$path" in
    */.data/* | */bin/*) why+=("under .data/ or bin/ (local data and build output)") ;;
    *.test | *.out) why+=("a test binary or test output (*.test, *.out)") ;;
  esac
  read_magic "$i"
  case "$magic" in
    7f454c46) why+=("an ELF executable or object") ;;
    feedface | feedfacf | cefaedfe | cffaedfe) why+=("a Mach-O executable") ;;
    cafebabe | bebafeca) why+=("a Mach-O universal binary (or a Java class)") ;;
    *)
      # A PE executable starts with "MZ", as a text file may: it must hold
      # a NUL byte too. So must anything marked executable: scripts are text.
      if { [ "${magic:0:4}" = 4d5a ] || [ "$mode" = 100755 ]; } && has_nul "$i"; then
        why+=("an executable binary (mode $mode, NUL bytes in its first 8000)")
      fi
      ;;
  esac
  if [ "$size" -gt "$max" ]; then
    why+=("$size bytes, over 5 MiB")
  fi
  if [ ${#why[@]} -gt 0 ]; then
    reasons=$(printf '%s; ' "${why[@]}")
    bad+=("$path: ${reasons%; }")
  fi
done

if [ ${#bad[@]} -gt 0 ]; then
  echo "check-tree: these tracked files must not be committed (git rm --cached them; .gitignore keeps them out):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-tree: ok, ${#paths[@]} tracked files: no binaries, none over 5 MiB, no build output"
