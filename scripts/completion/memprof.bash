# bash completion for memprof(1); installed by `make install` into
# $(DATADIR)/bash-completion/completions/memprof.

_memprof()
{
    local cur prev words cword
    _init_completion -s -n : || return

    # memprof report / plot / diff: their own options, then JSON files
    local sub=""
    [[ ${cword} -gt 1 && ( ${words[1]} == report || ${words[1]} == plot || ${words[1]} == diff ) ]] &&
        sub=${words[1]}

    case $prev in
        -o|--output|--json|--svg)
            _filedir
            return ;;
        --export)
            if [[ $cur == *=* ]]; then
                cur=${cur#*=}
                _filedir
            else
                COMPREPLY=($(compgen -S = -W 'table json folded flamegraph svg massif pprof speedscope html' \
                    -- "$cur"))
                compopt -o nospace
            fi
            return ;;
        --weight)
            COMPREPLY=($(compgen -W 'bytes calls peak leaked temporary' -- "$cur"))
            return ;;
        --frames)
            COMPREPLY=($(compgen -W 'line function' -- "$cur"))
            return ;;
        --engine)
            COMPREPLY=($(compgen -W 'auto agent breakpoint none' -- "$cur"))
            return ;;
        --metric)
            if [[ $sub == diff ]]; then
                COMPREPLY=($(compgen -W 'allocated peak leaked' -- "$cur"))
            else
                COMPREPLY=($(compgen -W 'rss heap' -- "$cur"))
            fi
            return ;;
        --format)
            COMPREPLY=($(compgen -W 'table json folded flamegraph svg massif pprof speedscope html' -- "$cur"))
            return ;;
        --group-by)
            COMPREPLY=($(compgen -W 'line file function traceback' -- "$cur"))
            return ;;
        --map)
            _filedir -d
            return ;;
        --show)
            # a comma-separated list: complete its last item
            local views='summary top calls peak leaks temporary largest sizes threads rate tree callers rss tables all'
            local head=${cur%,*} last=${cur##*,} sign=""
            [[ $cur == *,* ]] && head="$head," || head=""
            [[ $last == [+-]* ]] && sign=${last:0:1} && last=${last:1}
            COMPREPLY=($(compgen -P "$head$sign" -W "$views" -- "$last"))
            compopt -o nospace
            return ;;
        --leak-kinds)
            COMPREPLY=($(compgen -W 'definite,indirect all definite indirect possible reachable' -- "$cur"))
            return ;;
        --suppressions)
            _filedir
            return ;;
        --wait-children)
            COMPREPLY=($(compgen -W 'yes no' -- "$cur"))
            return ;;
        -p|--pid)
            _pids
            return ;;
        --function)
            # Python functions: FILE.py: then the file's def names
            if [[ $cur == *.py:* && -r ${cur%:*} ]]; then
                local file=${cur%:*}
                COMPREPLY=($(compgen -P "$file:" -W "$(sed -n \
                    's/^[[:space:]]*\(async[[:space:]]\+\)\?def[[:space:]]\+\([A-Za-z_][A-Za-z0-9_]*\).*/\2/p' \
                    "$file")" -- "${cur##*:}"))
                __ltrim_colon_completions "$cur"
            elif [[ $cur != *:* ]]; then
                COMPREPLY=($(compgen -f -X '!*.py' -S : -- "$cur"))
                [[ ${#COMPREPLY[@]} -gt 0 ]] && compopt -o nospace
            fi
            return ;;
        --top|--tables|--precision|--interval|--duration|--limit-heap|--limit-rss|--limit-leaks|\
        --limit-status|--limit-increase|--callers|--strip|--alloc-fn|--follow-only|--no-follow-exec|\
        --top-processes|--process|--limit-total-rss)
            return ;;
    esac
    [[ $split == true ]] && return

    if [[ -n $sub ]]; then
        if [[ $cur == -* ]]; then
            if [[ $sub == report ]]; then
                COMPREPLY=($(compgen -W '--format --output --weight --frames --top --tables --top-processes --process
                    --precision --stable --show --callers --leak-kinds --help' -- "$cur"))
            elif [[ $sub == plot ]]; then
                COMPREPLY=($(compgen -W '--output --precision --process --help' -- "$cur"))
            else
                COMPREPLY=($(compgen -W '--metric --group-by --strip --map --limit-increase --top --stable
                    --precision --output --help' -- "$cur"))
            fi
            [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
        else
            _filedir json
        fi
        return
    fi

    # The program to run: everything after it is its own command line.
    local i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -o|--output|--json|--engine|--metric|-p|--pid|--top|--tables|--precision|--interval|--duration|\
            --limit-heap|--limit-rss|--limit-leaks|--limit-status|--function|--show|--callers|--svg|--export|\
            --weight|--frames|--leak-kinds|--suppressions|--alloc-fn|--follow-only|--no-follow-exec|--wait-children|\
            --top-processes|--process|--limit-total-rss)
                ((i++)) ;;
            -*) ;;
            *)
                _command_offset $i
                return ;;
        esac
    done

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '--output --json --svg --export --weight --frames --top --tables --precision
            --engine --interval --stable --show --callers --pid --duration --function --metric --limit-heap
            --limit-rss --limit-leaks --limit-status --leak-kinds --suppressions --no-default-suppressions
            --mmap --no-mmap --alloc-fn --no-auto-alloc-fn --no-follow --follow-only --no-follow-exec
            --wait-children --top-processes --process --limit-total-rss --help --version' -- "$cur"))
        return
    fi
    if [[ $cword -eq 1 ]]; then
        COMPREPLY=($(compgen -W 'report plot diff' -- "$cur"))
    fi
    COMPREPLY+=($(compgen -c -- "$cur"))
} &&
    complete -F _memprof memprof
