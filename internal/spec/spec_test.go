package spec

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassifyErratum(t *testing.T) {
	fixedEACCES := Observation{What: "mknod", Fixed: unix.EACCES, Unfixed: nil}
	fixedNil := Observation{What: "exchange", Fixed: nil, Unfixed: unix.EACCES}
	with := func(o Observation, seen error) Observation { o.Seen = seen; return o }
	for _, tt := range []struct {
		name string
		obs  []Observation
		want Seen
	}{
		{"nothing", nil, SeenNeither},
		{"all fixed", []Observation{with(fixedEACCES, unix.EACCES), with(fixedNil, nil)}, SeenFixed},
		{"all unfixed", []Observation{with(fixedEACCES, nil), with(fixedNil, unix.EACCES)}, SeenUnfixed},
		{"mixed", []Observation{with(fixedEACCES, unix.EACCES), with(fixedNil, unix.EACCES)}, SeenNeither},
		{"other errno", []Observation{with(fixedEACCES, unix.EPERM)}, SeenNeither},
		{"wrapped errno", []Observation{with(fixedEACCES, errors.Join(errors.New("ctx"), unix.EACCES))}, SeenFixed},
		{"same both ways", []Observation{{What: "x", Seen: nil}}, SeenFixed},
	} {
		got, detail := ClassifyErratum(tt.obs)
		if got != tt.want {
			t.Errorf("%s: ClassifyErratum = %d, want %d (%s)", tt.name, got, tt.want, detail)
		}
	}
	_, detail := ClassifyErratum([]Observation{with(fixedEACCES, unix.EPERM), with(fixedNil, nil)})
	want := "mknod: EPERM (fixed kernel: EACCES, unfixed: success); exchange: success (fixed kernel: success, unfixed: EACCES)"
	if detail != want {
		t.Errorf("detail = %q, want %q", detail, want)
	}
	if _, d := ClassifyErratum(nil); !strings.Contains(d, "nothing") {
		t.Errorf("detail of no observation = %q", d)
	}
}

func TestSelftestLabel(t *testing.T) {
	if got := Selftest("fs_test", "layout1.rule_inside_mount_ns"); len(got) != 1 || got[0] != "selftest:fs_test:layout1.rule_inside_mount_ns" {
		t.Errorf("Selftest = %v", got)
	}
	for _, bad := range [][2]string{{"fs_test.c", "layout1.x"}, {"nope_test", "x"}, {"fs_test", "layout1/x"}, {"fs_test", ""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Selftest(%q, %q) did not panic", bad[0], bad[1])
				}
			}()
			Selftest(bad[0], bad[1])
		}()
	}
}

func TestSinceLabel(t *testing.T) {
	if got := Since("7.3"); len(got) != 1 || got[0] != "since:7.3" {
		t.Errorf("Since = %v", got)
	}
	for _, bad := range []string{"", "7", "v7.3", "7.3.1", "07.3", "7.x"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Since(%q) did not panic", bad)
				}
			}()
			Since(bad)
		}()
	}
}
