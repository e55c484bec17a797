package trace

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/internal/tracefs"
	"github.com/llconform/llconform/suites/trace/actions"
)

// eventABI is the ABI of the operations each event observes: network ports came with ABI
// 4, scopes with ABI 6; everything else is there from ABI 1.
var eventABI = map[string]int{
	"add_rule_net_port": 4, "check_rule_net_port": 4, "deny_access_net": 4,
	"deny_scope_signal": 6, "deny_scope_abstract_unix_socket": 6,
}

func abiOf(event string) int {
	if n, ok := eventABI[event]; ok {
		return n
	}
	return 1
}

var _ = suite.Describe("trace event formats", func() {
	for _, ev := range tracefs.LandlockEvents {
		f := "trace." + ev.Name
		It(fmt.Sprintf("%s MUST exist with the record fields and output format Linux 7.3 documents", ev.Event()),
			spec.ID("format."+ev.Name), feature(f, abiOf(ev.Name)), func() {
				if !requireEvents(f, abiOf(ev.Name)) {
					return
				}
				raw, err := tracing.fs.ReadFile("events/" + tracefs.LandlockSystem + "/" + ev.Event() + "/format")
				Expect(err).NotTo(HaveOccurred())
				fmt.Fprintf(GinkgoWriter, "%s", raw)
				got, err := tracefs.ParseFormat(raw)
				Expect(err).NotTo(HaveOccurred())
				Expect(got.Name).To(Equal(ev.Event()), "format file's name")
				// Signedness is left out: an enum's is the compiler's choice.
				fields := make([]tracefs.FormatField, len(got.Fields))
				for i, ff := range got.Fields {
					fields[i] = tracefs.FormatField{Type: ff.Type, Name: ff.Name, Size: ff.Size}
				}
				Expect(fields).To(Equal(ev.Struct), "%s: record fields (type, name, size), in order", ev.Event())
				Expect(got.Print).To(Equal(ev.Print), "%s: print format", ev.Event())
				// How the event names the bits of each mask it prints: the kernel's rights,
				// every one of its ABI, in bit order.
				var kinds []landlock.Kind
				for i, table := range got.FlagTables {
					k, err := tracefs.FlagTableKind(table)
					Expect(err).NotTo(HaveOccurred(), "%s: flag table %d", ev.Event(), i+1)
					Expect(table).To(Equal(tracefs.KernelFlagTable(k, kernelABI())), "%s: flag table %d, of the %s rights", ev.Event(), i+1, k)
					kinds = append(kinds, k)
				}
				Expect(kinds).To(Equal(ev.Tables), "%s: the kinds of rights of its flag tables", ev.Event())
				works(f, abiOf(ev.Name))
			})
	}
})

var _ = suite.Describe("trace event system", func() {
	It("MUST provide all 14 Landlock events of Linux 7.3 where it provides any", spec.ID("events.all"), feature("trace.events", 1), func() {
		if !requireEvents("trace.events", 1) {
			return
		}
		var want []string
		for _, ev := range tracefs.LandlockEvents {
			want = append(want, ev.Event())
		}
		var missing []string
		for _, w := range want {
			if !slices.Contains(tracing.events, w) {
				missing = append(missing, w)
			}
		}
		Expect(missing).To(BeEmpty(), "events/landlock lacks these events (it has %v)", tracing.events)
		avail, err := tracing.fs.AvailableEvents(tracefs.LandlockSystem)
		Expect(err).NotTo(HaveOccurred())
		for _, w := range want {
			Expect(avail).To(ContainElement(w), "available_events lacks landlock:%s", w)
		}
		works("trace.events", 1)
	})

	It("MUST NOT record any Landlock event while the events are disabled", spec.ID("no_trace_when_disabled"), feature("trace.events", 1),
		spec.Selftest("trace_test", "trace.no_trace_when_disabled"), func() {
			if !requireEvents("trace.events", 1) {
				return
			}
			Expect(tracing.inst.Enable(tracefs.LandlockSystem, false)).To(Succeed(), "disable the landlock events")
			DeferCleanup(func() {
				Expect(tracing.inst.Enable(tracefs.LandlockSystem, true)).To(Succeed(), "enable the landlock events again")
			})
			dirs := mkdirs(tempDir(), "allowed", "denied")
			// Everything the events observe: a ruleset and its rule, a domain enforced,
			// a rule matched, a denial, a ruleset and (later) a domain freed.
			onThread(func() error {
				if err := enforce(sandbox.FS(landlock.AccessFSReadDir, sandbox.PathRule{Path: dirs[0], Access: landlock.AccessFSReadDir})); err != nil {
					return err
				}
				if err := expectErr(actions.OpenDir(dirs[0]), nil, "open(%s) beneath a READ_DIR rule", dirs[0]); err != nil {
					return err
				}
				return expectErr(actions.OpenDir(dirs[1]), unix.EACCES, "open(%s) without a rule", dirs[1])
			})
			if evs := readEvents(); len(evs) != 0 {
				Fail(fmt.Sprintf("Landlock events recorded while disabled:\n%s", evs))
			}
			works("trace.events", 1)
		})
})
