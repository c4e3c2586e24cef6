# bash completion for lintelctl (installed as share/bash-completion/completions/lintelctl).
#
# Commands and options are read from lintelctl's own --help (CLI11) at the level being completed,
# once per shell and level, so a new command or option completes without touching this file.
# Values: door ids for --door and DOOR arguments, reader ids for --reader and READER arguments,
# taken from `lintelctl status` when the daemon answers within a second (nothing otherwise); file
# names for --config, --state, --socket and FILE arguments.

# _lintelctl_level PROG WORDS...: parses the --help text of `PROG WORDS...` (_lintelctl_parse),
# run once per shell and level (kept in _lintelctl_cache; not in a subshell, so the cache stays).
_lintelctl_level() {
  local prog=$1
  shift
  local key="$prog $*"
  if [[ -z ${_lintelctl_cache[$key]+set} ]]; then
    _lintelctl_cache[$key]=$("$prog" "$@" --help 2>/dev/null)
  fi
  _lintelctl_parse "${_lintelctl_cache[$key]}"
}

# _lintelctl_parse HELP: sets _lintelctl_subs (subcommands), _lintelctl_opts (option names),
# _lintelctl_valued (options that take a value, space separated, padded) and _lintelctl_pos
# (positional names, in order) from a CLI11 help text.
_lintelctl_parse() {
  _lintelctl_subs=() _lintelctl_opts=() _lintelctl_valued=" " _lintelctl_pos=()
  local line section="" names name
  while IFS= read -r line; do
    if [[ $line =~ ^([A-Za-z]+):$ ]]; then
      section=${BASH_REMATCH[1]}
      continue
    fi
    # Entries are indented two spaces; wrapped descriptions are indented more.
    [[ $line =~ ^\ \ ([^ ].*)$ ]] || continue
    line=${BASH_REMATCH[1]}
    names=${line%% *}
    case $section in
      Subcommands) _lintelctl_subs+=("$names") ;;
      Positionals) _lintelctl_pos+=("$names") ;;
      Options)
        for name in ${names//,/ }; do
          _lintelctl_opts+=("$name")
          # "--door TEXT ...", "-n UINT=20": a type after one space takes a value; a flag's
          # description starts after the padding.
          [[ ${line#"$names"} =~ ^\ [A-Z][A-Z0-9_]*([ =:]|$) ]] && _lintelctl_valued+="$name "
        done
        ;;
    esac
  done <<<"$1"
}

# _lintelctl_ids PROG [--socket PATH] KIND: the door or reader ids of the running daemon.
_lintelctl_ids() {
  local prog=$1 kind=${!#}
  local args=("${@:2:$#-2}")
  command -v python3 >/dev/null 2>&1 || return 0
  local out
  out=$(timeout 1 "$prog" "${args[@]}" status --json 2>/dev/null ||
    timeout 1 "$prog" "${args[@]}" status 2>/dev/null) || return 0
  printf '%s' "$out" | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
kind = sys.argv[1]
if kind == "door":
    ids = s.get("doors") or []
else:
    ids = list(s.get("readers") or {})
print(" ".join(i for i in ids if isinstance(i, str)))' "$kind" 2>/dev/null
}

_lintelctl_value() {
  local prog=$1 what=$2 cur=$3
  shift 3
  case $what in
    --door | DOOR) mapfile -t COMPREPLY < <(compgen -W "$(_lintelctl_ids "$prog" "$@" door)" -- "$cur") ;;
    --reader | READER) mapfile -t COMPREPLY < <(compgen -W "$(_lintelctl_ids "$prog" "$@" reader)" -- "$cur") ;;
    --config | --state | -s | --socket | FILE)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      ;;
    *) COMPREPLY=() ;;
  esac
}

_lintelctl() {
  local prog=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]}
  [[ $prog == */* ]] || prog=$(type -P "$prog") || return 0
  declare -gA _lintelctl_cache 2>/dev/null
  COMPREPLY=()

  # Walk the words before the cursor: subcommands descend, options skip their value.
  local path=() socket=() npos=0 i word expect=""
  _lintelctl_level "$prog"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    if [[ -n $expect ]]; then
      # bash splits `--socket=PATH` at the = (COMP_WORDBREAKS): the value is the word after it.
      [[ $word == = ]] && continue
      [[ $expect == -s || $expect == --socket ]] && socket=(--socket "$word")
      expect=""
    elif [[ $word == -* ]]; then
      [[ $word != *=* && $_lintelctl_valued == *" $word "* ]] && expect=$word
    elif [[ " ${_lintelctl_subs[*]} " == *" $word "* ]]; then
      path+=("$word")
      npos=0
      _lintelctl_level "$prog" "${path[@]}"
    else
      ((npos++))
    fi
  done

  if [[ -n $expect ]]; then
    [[ $cur == = ]] && cur=""
    _lintelctl_value "$prog" "$expect" "$cur" "${socket[@]}"
  elif [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${_lintelctl_opts[*]}" -- "$cur")
  elif ((${#_lintelctl_subs[@]})); then
    mapfile -t COMPREPLY < <(compgen -W "${_lintelctl_subs[*]}" -- "$cur")
  elif ((npos < ${#_lintelctl_pos[@]})); then
    _lintelctl_value "$prog" "${_lintelctl_pos[npos]}" "$cur" "${socket[@]}"
  fi
  return 0
}

complete -F _lintelctl lintelctl
