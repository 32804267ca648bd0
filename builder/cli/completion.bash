# bash completion for hoist: commands, each command's flags, and local image names.
# Installed by `meson install` as share/bash-completion/completions/hoist; or source it.
# Everything comes from hoist itself (`hoist --help`, `hoist COMMAND --help`,
# `hoist images`), so it follows the binary it completes.

_hoist_images() {
  "$1" images 2>/dev/null | awk 'NR > 1 && $1 != "<none>" { print ($2 == "<none>") ? $1 : $1 ":" $2 }'
}

_hoist() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local bin=${COMP_WORDS[0]}
  local i command=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --root | --insecure-registry) ((i++)) ;;
      -*) ;;
      *) command=${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "--root --insecure-registry --debug --help --version" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$("$bin" --help 2>/dev/null | awk '/^Commands:/ { on = 1; next } on && NF { print $1 }') help" -- "$cur"))
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$("$bin" "$command" --help 2>/dev/null | grep -oE '(^|[ ,])--?[A-Za-z][-A-Za-z]*' | tr -d ' ,')" -- "$cur"))
    return
  fi
  case $command in
    run | push | inspect | tag | rmi | history | diff | save)
      COMPREPLY=($(compgen -W "$(_hoist_images "$bin")" -- "$cur")) ;;
    help)
      COMPREPLY=($(compgen -W "$("$bin" --help 2>/dev/null | awk '/^Commands:/ { on = 1; next } on && NF { print $1 }')" -- "$cur")) ;;
    *)
      COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}

complete -F _hoist hoist
