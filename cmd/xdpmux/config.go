package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// expandConfig replaces -config FILE (or -config=FILE) in args by the
// flags FILE holds, placed before the rest of args so that flags on the
// command line override the file's (repeatable -allow rules and BINDs add
// to them). A line of FILE is "NAME VALUE" for -NAME VALUE, "NAME" alone
// for a boolean flag, or "bind BIND"; blank lines and lines starting with
// "#" are skipped.
func expandConfig(args []string) ([]string, error) {
	var file string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("-config: missing FILE")
			}
			i++
			val = args[i]
		}
		file = val
	}
	if file == "" {
		return args, nil
	}
	fromFile, err := readConfig(file)
	if err != nil {
		return nil, err
	}
	return append(fromFile, rest...), nil
}

// readConfig turns FILE's lines into arguments: flags first, BINDs after.
func readConfig(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	defer f.Close()
	var flags, binds []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, hasVal := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch {
		case name == "bind":
			if val == "" {
				return nil, fmt.Errorf("-config %s:%d: bind without a BIND", file, n)
			}
			binds = append(binds, val)
		case name == "config" || name == "takeover":
			return nil, fmt.Errorf("-config %s:%d: %q is for the command line", file, n, name)
		case !hasVal:
			flags = append(flags, "-"+name)
		default:
			flags = append(flags, "-"+name+"="+val)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("-config %s: %w", file, err)
	}
	return append(flags, binds...), nil
}
