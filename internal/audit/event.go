package audit

import (
	"fmt"
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
	bySerial := map[uint64]*Event{}
	for _, m := range msgs {
		e := bySerial[m.Serial]
		if e == nil {
			e = &Event{Serial: m.Serial, Time: m.Time}
			bySerial[m.Serial] = e
		}
		e.Records = append(e.Records, m)
		switch m.Type {
		case TypeLandlockAccess:
			a, err := ParseAccess(m.Text)
			if err != nil {
				return nil, fmt.Errorf("serial %d: %w", m.Serial, err)
			}
			e.Access = append(e.Access, a)
		case TypeLandlockDomain:
			d, err := ParseDomain(m.Text)
			if err != nil {
				return nil, fmt.Errorf("serial %d: %w", m.Serial, err)
			}
			e.Domains = append(e.Domains, d)
		case TypeSyscall:
			fields, err := Fields(m.Text)
			if err != nil {
				return nil, fmt.Errorf("serial %d: SYSCALL record: %w", m.Serial, err)
			}
			e.Syscall = map[string]string{}
			for _, f := range fields {
				e.Syscall[f.Name] = f.Value
			}
		case TypeProctitle:
			fields, err := Fields(m.Text)
			if err != nil || len(fields) != 1 || fields[0].Name != "proctitle" {
				return nil, fmt.Errorf("serial %d: PROCTITLE record %q: want one proctitle= field", m.Serial, m.Text)
			}
			s, err := ParseUntrusted(fields[0].Value)
			if err != nil {
				return nil, fmt.Errorf("serial %d: PROCTITLE record: %w", m.Serial, err)
			}
			e.Proctitle = s.Value
		}
	}
	var events []*Event
	for _, e := range bySerial {
		if len(e.Access) > 0 || len(e.Domains) > 0 {
			events = append(events, e)
		}
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Serial < events[j].Serial })
	return events, nil
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

// Deallocated returns the deallocated record of domain id, if any.
func (l *Log) Deallocated(id DomainID) (Domain, bool) {
	ds := l.Domains(func(d Domain) bool { return d.ID == id && d.Status == Deallocated })
	if len(ds) == 0 {
		return Domain{}, false
	}
	return ds[0], true
}
