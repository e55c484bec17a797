package landlock

import (
	"math/bits"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRightTables(t *testing.T) {
	for _, k := range []Kind{KindFS, KindNet, KindScope} {
		var seen uint64
		prevABI := 0
		for _, r := range AllRights() {
			if r.Kind != k {
				continue
			}
			if bits.OnesCount64(r.Bit) != 1 || seen&r.Bit != 0 {
				t.Errorf("%s: bit %#x not a fresh single bit", r, r.Bit)
			}
			if r.Bit != 1<<bits.Len64(seen) {
				t.Errorf("%s: bit %#x out of order after %#x", r, r.Bit, seen)
			}
			if r.ABI < prevABI || r.ABI < 1 || r.ABI > MaxABI {
				t.Errorf("%s: ABI %d out of order or range", r, r.ABI)
			}
			seen |= r.Bit
			prevABI = r.ABI
		}
	}
}

func TestMaskPerABI(t *testing.T) {
	for _, tt := range []struct {
		k    Kind
		abi  int
		want uint64
	}{
		{KindFS, 1, 1<<13 - 1},
		{KindFS, 2, 1<<14 - 1},
		{KindFS, 3, 1<<15 - 1},
		{KindFS, 8, 1<<16 - 1},
		{KindFS, 9, 1<<17 - 1},
		{KindNet, 3, 0},
		{KindNet, 4, AccessNetBindTCP | AccessNetConnectTCP},
		{KindNet, 10, 0xf},
		{KindScope, 5, 0},
		{KindScope, 6, 0x3},
	} {
		if got := Mask(tt.k, tt.abi); got != tt.want {
			t.Errorf("Mask(%s, %d) = %#x, want %#x", tt.k, tt.abi, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := Names(KindFS, AccessFSReadFile|AccessFSWriteFile); got != "fs.write_file,fs.read_file" {
		t.Errorf("Names = %q, want audit's bit order", got)
	}
	if got := Names(KindNet, AccessNetBindTCP|1<<40); got != "net.bind_tcp,net.0x10000000000" {
		t.Errorf("Names with an unknown bit = %q", got)
	}
}

func TestAttrSizes(t *testing.T) {
	for abi, want := range map[int]int{1: 8, 3: 8, 4: 16, 5: 16, 6: 24, 9: 24, 10: 48, 11: 48} {
		if got := (RulesetAttr{}).Size(abi); got != want {
			t.Errorf("Size(ABI %d) = %d, want %d", abi, got, want)
		}
	}
	if b := (PathBeneathAttr{AllowedAccess: 0x0102, ParentFd: -1}).bytes(); len(b) != 12 || b[0] != 2 || b[1] != 1 || b[8] != 0xff || b[11] != 0xff {
		t.Errorf("packed path-beneath attr = % x", b)
	}
}

func TestFixed(t *testing.T) {
	i := Info{Status: Available, ABI: 6, Errata: 0b0101, ErrataQuery: true}
	for n, want := range map[int]bool{0: false, 1: true, 2: false, 3: true, 4: false, 65: false} {
		if got := i.Fixed(n); got != want {
			t.Errorf("Fixed(%d) with errata 0b0101 = %v, want %v", n, got, want)
		}
	}
	if (Info{Errata: 1}).Fixed(1) {
		t.Error("Fixed(1) without an errata query = true, want false")
	}
	for i, e := range ErrataTable {
		if e.ID != i+1 {
			t.Errorf("ErrataTable[%d].ID = %d", i, e.ID)
		}
	}
}

// TestUAPIValues pins the numbers taken from x/sys, and the ones it lacks, to the kernel's
// uAPI (include/uapi/linux/landlock.h, the common syscall table).
func TestUAPIValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"create_ruleset syscall", sysCreateRuleset, 444},
		{"add_rule syscall", sysAddRule, 445},
		{"restrict_self syscall", sysRestrictSelf, 446},
		{"CREATE_RULESET_VERSION", CreateRulesetVersion, 1 << 0},
		{"CREATE_RULESET_ERRATA", CreateRulesetErrata, 1 << 1},
		{"RULE_PATH_BENEATH", RulePathBeneath, 1},
		{"RULE_NET_PORT", RuleNetPort, 2},
		{"ADD_RULE_QUIET", AddRuleQuiet, 1 << 0},
		{"RESTRICT_SELF_LOG_SAME_EXEC_OFF", RestrictSelfLogSameExecOff, 1 << 0},
		{"RESTRICT_SELF_LOG_NEW_EXEC_ON", RestrictSelfLogNewExecOn, 1 << 1},
		{"RESTRICT_SELF_LOG_SUBDOMAINS_OFF", RestrictSelfLogSubdomainsOff, 1 << 2},
		{"RESTRICT_SELF_TSYNC", RestrictSelfTSync, 1 << 3},
		{"RESTRICT_SELF_NO_NEW_PRIVS", RestrictSelfNoNewPrivs, 1 << 4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// x/sys's struct landlock_ruleset_attr is the ABI 10 layout, like ours.
	if got := int(unsafe.Sizeof(unix.LandlockRulesetAttr{})); got != RulesetAttrSize {
		t.Errorf("unix.LandlockRulesetAttr is %d bytes, RulesetAttr %d", got, RulesetAttrSize)
	}
}
