package main

import "testing"

func TestExpandLabelFilter(t *testing.T) {
	for in, want := range map[string]string{
		"fs && abi<=2":              "fs && (abi:1 || abi:2)",
		"abi >= 10":                 "(abi:10 || abi:11)",
		"net.bind_tcp || abi==3":    "net.bind_tcp || (abi:3)",
		"abi>9 && !needs:root":      "(abi:10 || abi:11) && !needs:root",
		"fs.truncate":               "fs.truncate",
		"abi:3 && erratum:1":        "abi:3 && erratum:1",
		"scope && (abi<2 || audit)": "scope && ((abi:1) || audit)",
	} {
		got, err := expandLabelFilter(in)
		if err != nil || got != want {
			t.Errorf("expandLabelFilter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"abi<1", "abi>11"} {
		if _, err := expandLabelFilter(bad); err == nil {
			t.Errorf("expandLabelFilter(%q) succeeded, want an error", bad)
		}
	}
}
