package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/llconform/llconform/internal/landlock"
)

// abiCompare matches an ABI comparison in a label filter: abi<=5, abi >= 7, abi==3.
var abiCompare = regexp.MustCompile(`\babi\s*(<=|>=|==|=|<|>)\s*([0-9]+)`)

// expandLabelFilter rewrites ABI comparisons, which Ginkgo's label filters cannot express,
// into unions of the abi:N labels every spec carries: "fs && abi<=2" becomes
// "fs && (abi:1 || abi:2)". The rest of the expression is Ginkgo's syntax, passed through.
func expandLabelFilter(expr string) (string, error) {
	var err error
	out := abiCompare.ReplaceAllStringFunc(expr, func(m string) string {
		parts := abiCompare.FindStringSubmatch(m)
		n, convErr := strconv.Atoi(parts[2])
		if convErr != nil {
			err = fmt.Errorf("label filter %q: %w", expr, convErr)
			return m
		}
		var labels []string
		for abi := 1; abi <= landlock.MaxABI; abi++ {
			if compare(abi, parts[1], n) {
				labels = append(labels, fmt.Sprintf("abi:%d", abi))
			}
		}
		if len(labels) == 0 {
			err = fmt.Errorf("label filter %q: %s selects no ABI from 1 to %d", expr, m, landlock.MaxABI)
			return m
		}
		return "(" + strings.Join(labels, " || ") + ")"
	})
	return out, err
}

func compare(a int, op string, b int) bool {
	switch op {
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	case "<":
		return a < b
	case ">":
		return a > b
	}
	return a == b
}
