package audit

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Event is the records sharing one serial: for a denial, the ACCESS record, the DOMAIN
// record of the domain's first denial, and, when the task has an audit context (it was
// created after auditing was first enabled), the SYSCALL and PROCTITLE records that
// close the event. A domain's deallocation is an event of its own.
type Event struct {
	Serial    uint64
	Time      time.Time
	Access    []Access
	Domains   []Domain
	Syscall   map[string]string // the SYSCALL record's fields as written; nil if none
	Proctitle string            // the PROCTITLE record's proctitle=, decoded
	Records   []Message         // every record of the event, in arrival order
}

// Pid returns the pid= of the event's SYSCALL record: the process that was denied. It
// returns false for events without one (tasks without an audit context, deallocations).
func (e *Event) Pid() (int, bool) {
	if e.Syscall != nil {
		if n, err := strconv.Atoi(e.Syscall["pid"]); err == nil {
			return n, true
		}
	}
	return 0, false
}

// Group parses msgs and groups their Landlock, SYSCALL and PROCTITLE records into events
// by serial, ordered by serial. Events without a Landlock record are left out. A Landlock
// record that does not parse is an error: the suite checks the format.
func Group(msgs []Message) ([]*Event, error) {
	var g Grouper
	if err := g.Add(msgs); err != nil {
		return nil, err
	}
	return g.Log().Events, nil
}

// Grouper groups a growing stream of records as Group does, parsing each record once: a
// spec that waits for a record looks at the stream again at every arrival, and parsing it
// all each time made the wait quadratic.
type Grouper struct {
	bySerial map[uint64]*Event
}

// Add parses msgs, the records that came after those of the earlier calls.
func (g *Grouper) Add(msgs []Message) error {
	if g.bySerial == nil {
		g.bySerial = map[uint64]*Event{}
	}
	for _, m := range msgs {
		e := g.bySerial[m.Serial]
		if e == nil {
			e = &Event{Serial: m.Serial, Time: m.Time}
			g.bySerial[m.Serial] = e
		}
		e.Records = append(e.Records, m)
		switch m.Type {
		case TypeLandlockAccess:
			a, err := ParseAccess(m.Text)
			if err != nil {
				return fmt.Errorf("serial %d: %w", m.Serial, err)
			}
			e.Access = append(e.Access, a)
		case TypeLandlockDomain:
			d, err := ParseDomain(m.Text)
			if err != nil {
				return fmt.Errorf("serial %d: %w", m.Serial, err)
			}
			e.Domains = append(e.Domains, d)
		case TypeSyscall:
			fields, err := Fields(m.Text)
			if err != nil {
				return fmt.Errorf("serial %d: SYSCALL record: %w", m.Serial, err)
			}
			e.Syscall = map[string]string{}
			for _, f := range fields {
				e.Syscall[f.Name] = f.Value
			}
		case TypeProctitle:
			fields, err := Fields(m.Text)
			if err != nil || len(fields) != 1 || fields[0].Name != "proctitle" {
				return fmt.Errorf("serial %d: PROCTITLE record %q: want one proctitle= field", m.Serial, m.Text)
			}
			s, err := ParseUntrusted(fields[0].Value)
			if err != nil {
				return fmt.Errorf("serial %d: PROCTITLE record: %w", m.Serial, err)
			}
			e.Proctitle = s.Value
		}
	}
	return nil
}

// Log returns the events so far that hold a Landlock record, ordered by serial. A later
// Add may add records to them.
func (g *Grouper) Log() *Log {
	var events []*Event
	for _, e := range g.bySerial {
		if len(e.Access) > 0 || len(e.Domains) > 0 {
			events = append(events, e)
		}
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Serial < events[j].Serial })
	return &Log{Events: events}
}

// Log is a parsed stretch of records, indexed for the questions specs ask.
type Log struct {
	Events []*Event
}

// NewLog groups msgs (see Group).
func NewLog(msgs []Message) (*Log, error) {
	ev, err := Group(msgs)
	if err != nil {
		return nil, err
	}
	return &Log{Events: ev}, nil
}

// Accesses returns the ACCESS records for which keep returns true, in order.
func (l *Log) Accesses(keep func(*Event, Access) bool) []Access {
	var out []Access
	for _, e := range l.Events {
		for _, a := range e.Access {
			if keep == nil || keep(e, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Domains returns the DOMAIN records for which keep returns true, in order.
func (l *Log) Domains(keep func(Domain) bool) []Domain {
	var out []Domain
	for _, e := range l.Events {
		for _, d := range e.Domains {
			if keep == nil || keep(d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// AllocatedBy returns the ids of the domains whose allocated record names pid as creator,
// in log order.
func (l *Log) AllocatedBy(pid int) []DomainID {
	var ids []DomainID
	for _, d := range l.Domains(func(d Domain) bool { return d.Status == Allocated && d.Pid == pid }) {
		ids = append(ids, d.ID)
	}
	return ids
}

// OfDomain returns the ACCESS records of domain id.
func (l *Log) OfDomain(id DomainID) []Access {
	return l.Accesses(func(_ *Event, a Access) bool { return a.Domain == id })
}

// DomainWithFirstDenial checks that domain id was logged as allocated with its first
// denial, as Landlock logs it: the DOMAIN record right after that denial's ACCESS record,
// in the same system call. How the two records are stamped depends on the denied task. One
// with an audit context (created after auditing was first enabled since boot) stamps both
// with its system call's serial: they are one event, closed by a SYSCALL record. One
// without (older than the first enabling, such as the first threads of a program started
// on a freshly booted system whose audit was never on) stamps each record with a serial of
// its own and logs no SYSCALL record: the allocated record is then the next Landlock event
// but for deallocations of other domains.
func (l *Log) DomainWithFirstDenial(id DomainID) error {
	// next is the first event that is not a deallocation alone: deallocations are logged
	// from a work queue, so one may fall between the two records of a task without
	// context.
	next := func(es []*Event) *Event {
		for _, e := range es {
			if len(e.Access) > 0 || e.Syscall != nil || slices.ContainsFunc(e.Domains, func(d Domain) bool { return d.Status != Deallocated }) {
				return e
			}
		}
		return nil
	}
	allocated := func(e *Event) bool {
		return slices.ContainsFunc(e.Domains, func(d Domain) bool { return d.ID == id && d.Status == Allocated })
	}
	for i, e := range l.Events {
		if !slices.ContainsFunc(e.Access, func(a Access) bool { return a.Domain == id }) {
			continue
		}
		n := next(l.Events[i+1:])
		switch {
		case allocated(e):
			return nil
		case e.Syscall != nil:
			return fmt.Errorf("the first denial of domain %v (serial %d) came without its allocated record", id, e.Serial)
		case n != nil && n.Syscall == nil && allocated(n):
			return nil
		default:
			return fmt.Errorf("the first denial of domain %v (serial %d, by a task without audit context) is not directly followed by its allocated record", id, e.Serial)
		}
	}
	return fmt.Errorf("no denial of domain %v", id)
}

// Deallocated returns the deallocated record of domain id, if any.
func (l *Log) Deallocated(id DomainID) (Domain, bool) {
	ds := l.Domains(func(d Domain) bool { return d.ID == id && d.Status == Deallocated })
	if len(ds) == 0 {
		return Domain{}, false
	}
	return ds[0], true
}
