# count.sh: counts as memprof's reports print them (src/base/count), for
# the scripts' own tables (sourced by scripts/torture).
#
#   count_noun N ONE MANY   "1 call", "0 calls", "1,002 calls"; "? calls"
#                           when N is empty (not found)

# N with thousands separators ("12,800,000"); N as it is when not a number.
count_str() {
    local n=$1 out=""
    case $n in '' | *[!0-9]*) printf '%s' "$n"; return ;; esac
    while [ ${#n} -gt 3 ]; do
        out=",${n: -3}$out"
        n=${n:0:${#n}-3}
    done
    printf '%s' "$n$out"
}

count_noun() {
    if [ -z "$1" ]; then
        printf '? %s' "$3"
    elif [ "$1" = 1 ]; then
        printf '1 %s' "$2"
    else
        printf '%s %s' "$(count_str "$1")" "$3"
    fi
}
