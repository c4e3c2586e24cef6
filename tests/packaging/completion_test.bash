#!/usr/bin/env bash
# Checks tools/completion/lintelctl.bash in a plain bash against the built lintelctl (and lintel,
# for ids from a running daemon).
# Usage: completion_test.bash CASE COMPLETION_FILE LINTELCTL LINTEL SOURCE_DIR
#   registers       sourcing it registers _lintelctl for lintelctl (`complete -p lintelctl`)
#   prefix          `lintelctl lo<TAB>` offers lock, and only words starting with lo; the help
#                   text it read is cached for the next TAB
#   every-command   an empty word offers exactly the commands `lintelctl --help` lists, and after
#                   each command exactly the subcommands of `lintelctl CMD --help`
#   options         `lintelctl explain -<TAB>` offers every option of `lintelctl explain --help`;
#                   an option's value is not taken for a command (`lintelctl -s lock <TAB>`)
#   daemon-ids      with a daemon running on config/examples/minimal.yaml, `--door <TAB>` and
#                   `lock pair <TAB>` offer its door, `--socket PATH` or `--socket=PATH` before the
#                   command pointing at it; with no daemon there, nothing
set -uo pipefail
case_name=$1 completion=$2 lintelctl=$3 lintel=$4 src=$5
[ -x "$lintelctl" ] || { echo "no lintelctl at $lintelctl"; exit 1; }
# As a user types it: `lintelctl`, found on PATH.
PATH=$(dirname "$lintelctl"):$PATH
# shellcheck source=/dev/null
source "$completion" || { echo "cannot source $completion"; exit 1; }
fail=0

# complete_words WORD...: runs the completion function as bash would for the last word.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _lintelctl lintelctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}
# help_list SECTION WORDS...: the first words of the entries of SECTION in `lintelctl WORDS --help`.
help_list() {
  local section=$1
  shift
  lintelctl "$@" --help | awk -v s="$section:" '/^[A-Za-z]+:$/ {on = ($0 == s); next}
    on && /^  [^ ]/ {print $1}' | tr ',' '\n' | sort
}
expect_same() {  # expect_same WHAT WANT GOT (newline separated lists)
  if [ "$2" != "$3" ]; then
    echo "FAIL $1: want [$(tr '\n' ' ' <<<"$2")] got [$(tr '\n' ' ' <<<"$3")]"
    fail=1
  else
    echo "ok   $1: $(tr '\n' ' ' <<<"$3")"
  fi
}
replies() { printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort; }

case $case_name in
  registers)
    spec=$(complete -p lintelctl 2>&1)
    if [[ $spec != *"-F _lintelctl"* ]]; then
      echo "FAIL complete -p lintelctl: $spec"
      fail=1
    else
      echo "ok   $spec"
    fi
    ;;
  prefix)
    complete_words lintelctl lo
    printf '%s\n' "${COMPREPLY[@]}" | grep -qx lock || { echo "FAIL lo: no lock in [${COMPREPLY[*]}]"; fail=1; }
    for w in "${COMPREPLY[@]}"; do
      [[ $w == lo* ]] || { echo "FAIL lo: offered $w"; fail=1; }
    done
    [ $fail -eq 0 ] && echo "ok   lintelctl lo -> ${COMPREPLY[*]}"
    # The help text is kept for the next TAB (not lost in a subshell).
    # shellcheck disable=SC2154 # set by the sourced completion
    [ "${#_lintelctl_cache[@]}" -ge 1 ] || { echo "FAIL lintelctl --help is not cached"; fail=1; }
    ;;
  every-command)
    top=$(help_list Subcommands)
    [ "$(echo "$top" | wc -w)" -ge 5 ] || { echo "FAIL lintelctl --help lists [$top]"; exit 1; }
    complete_words lintelctl ""
    expect_same "lintelctl <TAB>" "$top" "$(replies)"
    for cmd in $top; do
      subs=$(help_list Subcommands "$cmd")
      [ -n "$subs" ] || continue
      complete_words lintelctl "$cmd" ""
      expect_same "lintelctl $cmd <TAB>" "$subs" "$(replies)"
    done
    ;;
  options)
    complete_words lintelctl explain -
    expect_same "lintelctl explain -<TAB>" "$(help_list Options explain)" "$(replies)"
    # A socket named like a command is the option's value, not the command.
    complete_words lintelctl -s lock ""
    expect_same "lintelctl -s lock <TAB>" "$(help_list Subcommands)" "$(replies)"
    complete_words lintelctl present --door lock --f
    expect_same "lintelctl present --door lock --f<TAB> (present has no --f... option)" "" "$(replies)"
    ;;
  daemon-ids)
    dir=$(mktemp -d)
    trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
    "$lintel" -c "$src/config/examples/minimal.yaml" --store "$dir/lintel.db" \
      --socket "$dir/lintel.sock" 2>"$dir/log" &
    pid=$!
    for _ in $(seq 100); do [ -S "$dir/lintel.sock" ] && break; sleep 0.1; done
    [ -S "$dir/lintel.sock" ] || { echo "FAIL the daemon did not start:"; cat "$dir/log"; exit 1; }
    doors=$(lintelctl -s "$dir/lintel.sock" status --json | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["doors"]))' | sort)
    [ -n "$doors" ] || { echo "FAIL no doors in lintelctl status"; exit 1; }
    complete_words lintelctl --socket "$dir/lintel.sock" present --door ""
    expect_same "present --door <TAB>" "$doors" "$(replies)"
    # `--socket=PATH` reaches the function as three words (bash splits at =).
    complete_words lintelctl --socket = "$dir/lintel.sock" lock pair ""
    expect_same "lock pair <TAB>" "$doors" "$(replies)"
    complete_words lintelctl -s "$dir/nowhere.sock" present --door ""
    expect_same "present --door <TAB> with no daemon" "" "$(replies)"
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac
exit $fail
