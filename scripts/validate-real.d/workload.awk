# validate-real's gawk workload: strings, split, associative arrays, sprintf
# and asorti on text the program makes itself (BEGIN only, no input).
BEGIN {
	for (i = 0; i < 3000; i++) {
		line = ""
		for (j = 0; j < 8; j++)
			line = line sprintf("w%d ", (i * 31 + j * 7) % 541)
		n = split(line, words, " ")
		for (k = 1; k <= n; k++) {
			count[words[k]]++
			len[words[k]] = length(words[k])
		}
		if (i % 100 == 0)
			lines[i] = toupper(line)
	}
	m = asorti(count, keys)
	total = 0
	for (k = 1; k <= m; k++)
		total += count[keys[k]] * len[keys[k]]
	printf "%d distinct words, %d letters, first %s last %s\n", m, total, keys[1], keys[m]
	delete count
}
