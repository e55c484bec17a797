package audit

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DomainID is a Landlock domain's audit identifier, logged as lower-case hex.
type DomainID uint64

func (d DomainID) String() string { return strconv.FormatUint(uint64(d), 16) }

var (
	domainRe  = regexp.MustCompile(`^[0-9a-f]+$`)
	blockerRe = regexp.MustCompile(`^(?:ptrace|(?:fs|net|scope)\.[a-z_]+)$`)
	decimalRe = regexp.MustCompile(`^(?:0|[1-9][0-9]*)$`)
	ipv4Re    = regexp.MustCompile(`^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$`)
	ioctlRe   = regexp.MustCompile(`^0x[0-9a-f]+$`)
	wordRe    = regexp.MustCompile(`^[a-z]+$`)
)

func parseDomainID(v string) (DomainID, error) {
	if !domainRe.MatchString(v) || len(v) > 16 {
		return 0, fmt.Errorf("domain=%s is not a lower-case hex id", v)
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("domain=%s: %w", v, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("domain=0 is not a valid id")
	}
	return DomainID(n), nil
}

func parseDecimal(name, v string, bits int) (uint64, error) {
	if !decimalRe.MatchString(v) {
		return 0, fmt.Errorf("%s=%s is not a decimal number", name, v)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s=%s: %w", name, v, err)
	}
	return n, nil
}

// Access is an AUDIT_LANDLOCK_ACCESS record: one denied request.
type Access struct {
	Domain DomainID
	// Blockers are the denied rights in the kernel's order: "fs.read_file",
	// "net.bind_tcp", "scope.signal", "fs.change_topology", "ptrace".
	Blockers []string
	// Object fields, set when present.
	Path     *Str   // path= (files, directories, pathname or abstract UNIX sockets)
	Name     *Str   // name= (a dentry without a path: umount, remount)
	Dev      *Str   // dev= (the file system's s_id)
	Ino      uint64 // ino=
	HasIno   bool
	IoctlCmd string // ioctlcmd= (0x-prefixed hex, as logged)
	OPid     int    // opid= (the peer process of a signal or ptrace)
	OComm    *Str   // ocomm=
	SAddr    string // saddr=, src= (bind: the local address and port)
	Src      int
	DAddr    string // daddr=, dest= (connect: the remote address and port)
	Dest     int
	// Other holds fields this parser does not know, by name, as written.
	Other map[string]string
	// Order is the field names in the order they came.
	Order []string
}

// BlockerList returns the blockers as the kernel joined them.
func (a Access) BlockerList() string { return strings.Join(a.Blockers, ",") }

// ParseAccess parses the body of an AUDIT_LANDLOCK_ACCESS record. domain= must come first
// and blockers= second, as every kernel writes them; the object fields may come in any
// order, each in its audit format.
func ParseAccess(body string) (Access, error) {
	fields, err := Fields(body)
	if err != nil {
		return Access{}, fmt.Errorf("landlock access record %q: %w", body, err)
	}
	var a Access
	if len(fields) < 2 || fields[0].Name != "domain" || fields[1].Name != "blockers" {
		return Access{}, fmt.Errorf("landlock access record %q: must start with domain= blockers=", body)
	}
	if a.Domain, err = parseDomainID(fields[0].Value); err != nil {
		return Access{}, fmt.Errorf("landlock access record %q: %w", body, err)
	}
	for _, b := range strings.Split(fields[1].Value, ",") {
		if !blockerRe.MatchString(b) {
			return Access{}, fmt.Errorf("landlock access record %q: bad blocker %q", body, b)
		}
		a.Blockers = append(a.Blockers, b)
	}
	for _, f := range fields {
		a.Order = append(a.Order, f.Name)
	}
	for _, f := range fields[2:] {
		if err := a.setObjectField(f); err != nil {
			return Access{}, fmt.Errorf("landlock access record %q: %w", body, err)
		}
	}
	return a, nil
}

func (a *Access) setObjectField(f Field) error {
	untrusted := func(dst **Str) error {
		s, err := ParseUntrusted(f.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		*dst = &s
		return nil
	}
	port := func(dst *int) error {
		n, err := parseDecimal(f.Name, f.Value, 16)
		*dst = int(n)
		return err
	}
	addr := func(dst *string) error {
		// IPv4 as dotted quad (%pI4), IPv6 as %pI6c (compressed, lower-case hex).
		if !ipv4Re.MatchString(f.Value) && !strings.Contains(f.Value, ":") {
			return fmt.Errorf("%s=%s is not an IP address", f.Name, f.Value)
		}
		*dst = f.Value
		return nil
	}
	switch f.Name {
	case "path":
		return untrusted(&a.Path)
	case "name":
		return untrusted(&a.Name)
	case "dev":
		return untrusted(&a.Dev)
	case "ocomm":
		return untrusted(&a.OComm)
	case "ino":
		n, err := parseDecimal(f.Name, f.Value, 64)
		a.Ino, a.HasIno = n, err == nil
		return err
	case "opid":
		n, err := parseDecimal(f.Name, f.Value, 31)
		a.OPid = int(n)
		return err
	case "ioctlcmd":
		if !ioctlRe.MatchString(f.Value) {
			return fmt.Errorf("ioctlcmd=%s is not 0x-prefixed hex", f.Value)
		}
		a.IoctlCmd = f.Value
		return nil
	case "src":
		return port(&a.Src)
	case "dest":
		return port(&a.Dest)
	case "saddr":
		return addr(&a.SAddr)
	case "daddr":
		return addr(&a.DAddr)
	}
	if a.Other == nil {
		a.Other = map[string]string{}
	}
	a.Other[f.Name] = f.Value
	return nil
}

// DomainStatus is the status= of an AUDIT_LANDLOCK_DOMAIN record.
type DomainStatus string

const (
	Allocated   DomainStatus = "allocated"
	Deallocated DomainStatus = "deallocated"
)

// Domain is an AUDIT_LANDLOCK_DOMAIN record: a domain's first appearance in the log
// (allocated, with who created it) or its end (deallocated, with its denial count).
type Domain struct {
	ID     DomainID
	Status DomainStatus
	// Allocated records.
	Mode string // "enforcing"
	Pid  int    // the thread group that called landlock_restrict_self
	UID  uint32
	Exe  Str
	Comm Str
	// Deallocated records.
	Denials uint64
}

// ParseDomain parses the body of an AUDIT_LANDLOCK_DOMAIN record. domain= and status=
// come first; the fields each status requires must all be present, and no other.
func ParseDomain(body string) (Domain, error) {
	fields, err := Fields(body)
	if err != nil {
		return Domain{}, fmt.Errorf("landlock domain record %q: %w", body, err)
	}
	if len(fields) < 2 || fields[0].Name != "domain" || fields[1].Name != "status" {
		return Domain{}, fmt.Errorf("landlock domain record %q: must start with domain= status=", body)
	}
	var d Domain
	if d.ID, err = parseDomainID(fields[0].Value); err != nil {
		return Domain{}, fmt.Errorf("landlock domain record %q: %w", body, err)
	}
	d.Status = DomainStatus(fields[1].Value)
	var want []string
	switch d.Status {
	case Allocated:
		want = []string{"mode", "pid", "uid", "exe", "comm"}
	case Deallocated:
		want = []string{"denials"}
	default:
		return Domain{}, fmt.Errorf("landlock domain record %q: unknown status %q", body, d.Status)
	}
	got := map[string]string{}
	for _, f := range fields[2:] {
		got[f.Name] = f.Value
	}
	if len(got) != len(want) {
		return Domain{}, fmt.Errorf("landlock domain record %q: %s record must have exactly %v", body, d.Status, want)
	}
	for _, name := range want {
		v, ok := got[name]
		if !ok {
			return Domain{}, fmt.Errorf("landlock domain record %q: no %s=", body, name)
		}
		if err := d.set(name, v); err != nil {
			return Domain{}, fmt.Errorf("landlock domain record %q: %w", body, err)
		}
	}
	return d, nil
}

func (d *Domain) set(name, v string) error {
	var err error
	var n uint64
	switch name {
	case "mode":
		if !wordRe.MatchString(v) {
			return fmt.Errorf("mode=%s is not a word", v)
		}
		d.Mode = v
	case "pid":
		n, err = parseDecimal(name, v, 31)
		d.Pid = int(n)
	case "uid":
		n, err = parseDecimal(name, v, 32)
		d.UID = uint32(n)
	case "exe":
		d.Exe, err = ParseUntrusted(v)
	case "comm":
		d.Comm, err = ParseUntrusted(v)
	case "denials":
		d.Denials, err = parseDecimal(name, v, 64)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
