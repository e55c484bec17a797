package fs

import (
	"fmt"
	"math/bits"
	"os"
	"strings"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"

	"github.com/llconform/llconform/internal/landlock"
	"github.com/llconform/llconform/internal/sandbox"
	"github.com/llconform/llconform/internal/spec"
	"github.com/llconform/llconform/suites/fs/actions"
)

const rIoctl uint64 = landlock.AccessFSIoctlDev

var ioctlRight = fsRight(rIoctl)

// Request numbers in the asm-generic encoding (x86, arm64, riscv, s390...), written out
// because x/sys lacks most of them.
const (
	ioFIONREAD       = 0x541b
	ioFIONBIO        = 0x5421
	ioFIONCLEX       = 0x5450
	ioFIOCLEX        = 0x5451
	ioFIOASYNC       = 0x5452
	ioFIOQSIZE       = 0x5460
	ioFIBMAP         = 0x1
	ioFIGETBSZ       = 0x2
	ioFIFREEZE       = 0xc0045877
	ioFITHAW         = 0xc0045878
	ioFIEMAP         = 0xc020660b
	ioFSGETXATTR     = 0x801c581f
	ioFSSETXATTR     = 0x401c5820
	ioGETFSUUID      = 0x80111500
	ioGETFSSYSFSPATH = 0x80811501
	ioRESVSP         = 0x40305828
	ioUNRESVSP       = 0x40305829
	ioRESVSP64       = 0x4030582a
	ioUNRESVSP64     = 0x4030582b
	ioZERORANGE      = 0x40305839
)

// The 32-bit encodings of the fs ioctls whose argument has another size in a 32-bit x86
// program (include/uapi/linux/fs.h, include/linux/falloc.h): what such a program passes,
// and what the kernel's compat ioctl path (compat_sys_ioctl, and Landlock's own allow-list
// for it, is_masked_device_ioctl_compat) handles apart from the 64-bit requests.
const (
	ioFSIOC32GETFLAGS = 0x80046601 // _IOR('f', 1, int); FS_IOC_GETFLAGS is _IOR('f', 1, long)
	ioFSIOC32SETFLAGS = 0x40046602
	ioFSIOC64GETFLAGS = 0x80086601 // FS_IOC_GETFLAGS as a 64-bit program encodes it
	// struct space_resv_32 is 44 bytes, struct space_resv 48 on x86-64.
	ioRESVSP32     = 0x402c5828
	ioUNRESVSP32   = 0x402c5829
	ioRESVSP6432   = 0x402c582a
	ioUNRESVSP6432 = 0x402c582b
	ioZERORANGE32  = 0x402c5839
)

type ioctlCmd struct {
	name string
	cmd  uintptr
	// succeeds: the command works on any open file, so in alwaysAllowed it must return
	// 0; the others there need only not be EACCES, their result depending on the device.
	succeeds bool
}

// alwaysAllowed are the commands fs/ioctl.c implements for every file, which Landlock
// lets through on devices whatever the domain.
var alwaysAllowed = []ioctlCmd{
	{name: "FIOCLEX", cmd: ioFIOCLEX, succeeds: true},
	{name: "FIONCLEX", cmd: ioFIONCLEX, succeeds: true},
	{name: "FIONBIO", cmd: ioFIONBIO, succeeds: true},
	{name: "FIOASYNC", cmd: ioFIOASYNC, succeeds: true},
	{name: "FIOQSIZE", cmd: ioFIOQSIZE},
	{name: "FIFREEZE", cmd: ioFIFREEZE},
	{name: "FITHAW", cmd: ioFITHAW},
	{name: "FS_IOC_FIEMAP", cmd: ioFIEMAP},
	{name: "FIGETBSZ", cmd: ioFIGETBSZ},
	{name: "FICLONE", cmd: unix.FICLONE},
	{name: "FICLONERANGE", cmd: unix.FICLONERANGE},
	{name: "FIDEDUPERANGE", cmd: unix.FIDEDUPERANGE},
	{name: "FS_IOC_GETFSUUID", cmd: ioGETFSUUID},
	{name: "FS_IOC_GETFSSYSFSPATH", cmd: ioGETFSSYSFSPATH},
}

// deviceIoctls reach the device's own handler, so IOCTL_DEV governs them.
var deviceIoctls = []ioctlCmd{
	{name: "FIONREAD", cmd: ioFIONREAD},
	{name: "FS_IOC_GETFLAGS", cmd: unix.FS_IOC_GETFLAGS},
	{name: "FS_IOC_SETFLAGS", cmd: unix.FS_IOC_SETFLAGS},
	{name: "FS_IOC_FSGETXATTR", cmd: ioFSGETXATTR},
	{name: "FS_IOC_FSSETXATTR", cmd: ioFSSETXATTR},
	{name: "FIBMAP", cmd: ioFIBMAP},
	{name: "FS_IOC_RESVSP", cmd: ioRESVSP},
	{name: "FS_IOC_RESVSP64", cmd: ioRESVSP64},
	{name: "FS_IOC_UNRESVSP", cmd: ioUNRESVSP},
	{name: "FS_IOC_UNRESVSP64", cmd: ioUNRESVSP64},
	{name: "FS_IOC_ZERO_RANGE", cmd: ioZERORANGE},
	{name: "unknown 0xc00ffeee", cmd: 0xc00ffeee},
}

// compatEncodings are the requests whose 32-bit encoding differs from the 64-bit one. The
// kernel's compat allow-list names each of them to keep them under IOCTL_DEV, like their
// 64-bit counterparts ("not blanket-permitted, for consistency"). grantable: harmless to
// let through to /dev/null (SETFLAGS would set the device node's flags).
var compatEncodings = []struct {
	ioctlCmd
	grantable bool
}{
	{ioctlCmd{name: "FS_IOC32_GETFLAGS", cmd: ioFSIOC32GETFLAGS}, true},
	{ioctlCmd{name: "FS_IOC32_SETFLAGS", cmd: ioFSIOC32SETFLAGS}, false},
	{ioctlCmd{name: "FS_IOC_GETFLAGS (64-bit encoding)", cmd: ioFSIOC64GETFLAGS}, true},
	{ioctlCmd{name: "FS_IOC_RESVSP_32", cmd: ioRESVSP32}, true},
	{ioctlCmd{name: "FS_IOC_UNRESVSP_32", cmd: ioUNRESVSP32}, true},
	{ioctlCmd{name: "FS_IOC_RESVSP64_32", cmd: ioRESVSP6432}, true},
	{ioctlCmd{name: "FS_IOC_UNRESVSP64_32", cmd: ioUNRESVSP6432}, true},
	{ioctlCmd{name: "FS_IOC_ZERO_RANGE_32", cmd: ioZERORANGE32}, true},
}

// ioctlPath names the kernel's ioctl entry point this binary reaches, for messages: a
// 32-bit build on a 64-bit kernel goes through the compat one.
func ioctlPath() string {
	if bits.UintSize == 64 {
		return "native ioctl path, 64-bit process"
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil && unix.ByteSliceToString(u.Machine[:]) == "x86_64" {
		return "compat ioctl path, 32-bit process on an x86_64 kernel"
	}
	return "native ioctl path, 32-bit process"
}

// ioctlErr calls ioctl(fd, cmd, buf) with a zeroed buffer (FIONBIO and FIOASYNC then
// clear their flag). The clone commands read a descriptor number, from the buffer's first
// word (FICLONERANGE) or from the argument itself (FICLONE): they get -1, so that nothing
// is ever cloned.
func ioctlErr(fd int, cmd uintptr) error {
	buf := make([]byte, 256)
	if cmd == unix.FICLONERANGE {
		*(*int64)(unsafe.Pointer(&buf[0])) = -1
	}
	arg := uintptr(unsafe.Pointer(&buf[0]))
	if cmd == unix.FICLONE {
		arg = ^uintptr(0)
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), cmd, arg)
	if errno != 0 {
		return errno
	}
	return nil
}

// notEACCES is the verdict for commands whose own result depends on the device: only
// Landlock answers EACCES. An error that is no errno at all is no ioctl result: it fails.
func notEACCES(err error) bool {
	return err == nil || (actions.ErrnoOf(err) != 0 && actions.ErrnoOf(err) != unix.EACCES)
}

// dropSysAdmin clears CAP_SYS_ADMIN from the calling thread's effective set, so that
// FIFREEZE and FITHAW, if Landlock lets them through, stop at their own EPERM instead of
// freezing a filesystem.
func dropSysAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[unix.CAP_SYS_ADMIN/32].Effective &^= 1 << (unix.CAP_SYS_ADMIN % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// deviceIoctl opens dev inside p (on a thread without CAP_SYS_ADMIN) and runs cmds.
func deviceIoctl(p sandbox.Policy, dev string, flags int, cmds []ioctlCmd) []error {
	GinkgoHelper()
	errs := make([]error, len(cmds))
	err := sandbox.OnThread(func() error {
		if err := dropSysAdmin(); err != nil {
			return err
		}
		if err := p.Enforce(); err != nil {
			return fmt.Errorf("enforce %s: %w", actions.PolicyText(p), err)
		}
		fd, err := unix.Open(dev, flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", dev, err)
		}
		defer unix.Close(fd)
		for i, c := range cmds {
			errs[i] = ioctlErr(fd, c.cmd)
		}
		return nil
	})
	must(err, "ioctl on %s", dev)
	return errs
}

var _ = suite.Describe("device ioctls", spec.Feature(ioctlRight.Feature(), ioctlRight.ABI), func() {
	BeforeEach(spec.RequireLandlock)

	fionread := []ioctlCmd{{name: "FIONREAD", cmd: ioFIONREAD}}
	for _, dev := range []string{"/dev/null", "/dev/zero"} {
		It(fmt.Sprintf("MUST deny FIONREAD on %s with EACCES when IOCTL_DEV is handled and not granted, and allow it when granted on /dev or on the device or when unhandled", dev), spec.ID("ioctl.fionread."+strings.TrimPrefix(dev, "/dev/")), selftests("ioctl.handle_dir_access_file", "ioctl.handle_file_access_file"), func() {
			if !supportsOrRejected(ioctlRight) {
				return
			}
			cases := []struct {
				p    sandbox.Policy
				deny bool
			}{
				{p: sandbox.FS(rIoctl), deny: true},
				{p: sandbox.FS(rIoctl, actions.Rule("/dev", rIoctl))},
				{p: sandbox.FS(rIoctl, actions.Rule(dev, rIoctl))},
				{p: sandbox.FS(rExec, actions.Rule("/dev", rExec))},
			}
			for _, c := range cases {
				err := deviceIoctl(c.p, dev, unix.O_RDWR, fionread)[0]
				if c.deny {
					spec.ExpectErr(err, unix.EACCES, "%s: ioctl(%s, FIONREAD)", actions.PolicyText(c.p), dev)
				} else if !notEACCES(err) {
					Fail(fmt.Sprintf("%s: ioctl(%s, FIONREAD): got EACCES, want anything else", actions.PolicyText(c.p), dev))
				}
			}
			spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
		})
	}

	It("MUST always allow the generic fs/ioctl.c commands on a device and deny every other command with EACCES", spec.ID("layout1.blanket_permitted_ioctls"), selftests("layout1.blanket_permitted_ioctls", "ioctl.handle_dir_access_file", "ioctl.handle_file_access_file"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		p := sandbox.FS(rIoctl)
		errs := deviceIoctl(p, "/dev/null", unix.O_RDWR, alwaysAllowed)
		for i, c := range alwaysAllowed {
			switch {
			case c.succeeds:
				spec.ExpectErr(errs[i], nil, "%s: ioctl(/dev/null, %s)", actions.PolicyText(p), c.name)
			case !notEACCES(errs[i]):
				Fail(fmt.Sprintf("%s: ioctl(/dev/null, %s): got EACCES, want anything else (always allowed)", actions.PolicyText(p), c.name))
			}
		}
		errs = deviceIoctl(p, "/dev/null", unix.O_RDWR, deviceIoctls)
		for i, c := range deviceIoctls {
			spec.ExpectErr(errs[i], unix.EACCES, "%s: ioctl(/dev/null, %s)", actions.PolicyText(p), c.name)
		}
		spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST deny the 32-bit encodings of FS_IOC_GETFLAGS, FS_IOC_SETFLAGS and the FS_IOC_*RESVSP*/ZERO_RANGE requests on a device with EACCES when IOCTL_DEV is handled and not granted, allow them when granted, and always allow FICLONE, from a 32-bit process as from a 64-bit one", spec.ID("ioctl.compat_encodings"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		path := ioctlPath()
		cmds := []ioctlCmd{{name: "FICLONE", cmd: unix.FICLONE}}
		for _, c := range compatEncodings {
			cmds = append(cmds, c.ioctlCmd)
		}
		p := sandbox.FS(rIoctl)
		errs := deviceIoctl(p, "/dev/null", unix.O_RDWR, cmds)
		if !notEACCES(errs[0]) {
			Fail(fmt.Sprintf("%s: ioctl(/dev/null, FICLONE %#x) on the %s: got EACCES, want anything else (always allowed)", actions.PolicyText(p), cmds[0].cmd, path))
		}
		for i, c := range cmds[1:] {
			spec.ExpectErr(errs[i+1], unix.EACCES, "%s: ioctl(/dev/null, %s %#x) on the %s", actions.PolicyText(p), c.name, c.cmd, path)
		}
		var granted []ioctlCmd
		for _, c := range compatEncodings {
			if c.grantable {
				granted = append(granted, c.ioctlCmd)
			}
		}
		p = sandbox.FS(rIoctl, actions.Rule("/dev/null", rIoctl))
		errs = deviceIoctl(p, "/dev/null", unix.O_RDWR, granted)
		for i, c := range granted {
			if !notEACCES(errs[i]) {
				Fail(fmt.Sprintf("%s: ioctl(/dev/null, %s %#x) on the %s: got %s, want anything but EACCES (granted)", actions.PolicyText(p), c.name, c.cmd, path, spec.ErrnoName(errs[i])))
			}
		}
		spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST decide device ioctls at open time: a descriptor keeps the right it was opened with", spec.ID("ioctl.open_time"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		var before, layer1, layer2 error
		err := sandbox.OnThread(func() error {
			open := func() (int, error) { return unix.Open("/dev/zero", unix.O_RDONLY|unix.O_CLOEXEC, 0) }
			fd0, err := open()
			if err != nil {
				return fmt.Errorf("open before any domain: %w", err)
			}
			defer unix.Close(fd0)
			if err := sandbox.FS(rIoctl, actions.Rule("/dev", rIoctl)).Enforce(); err != nil {
				return fmt.Errorf("enforce layer 1: %w", err)
			}
			fd1, err := open()
			if err != nil {
				return fmt.Errorf("open in layer 1: %w", err)
			}
			defer unix.Close(fd1)
			if err := sandbox.FS(rIoctl).Enforce(); err != nil {
				return fmt.Errorf("enforce layer 2: %w", err)
			}
			fd2, err := open()
			if err != nil {
				return fmt.Errorf("open in layer 2: %w", err)
			}
			defer unix.Close(fd2)
			before, layer1, layer2 = ioctlErr(fd0, ioFIONREAD), ioctlErr(fd1, ioFIONREAD), ioctlErr(fd2, ioFIONREAD)
			return nil
		})
		must(err, "run on a sandbox thread")
		if !notEACCES(before) || !notEACCES(layer1) {
			Fail(fmt.Sprintf("FIONREAD on /dev/zero inside a layer denying device ioctls: descriptor opened before any domain got %s, opened while granted got %s; want anything but EACCES",
				spec.ErrnoName(before), spec.ErrnoName(layer1)))
		}
		spec.ExpectErr(layer2, unix.EACCES, "FIONREAD on /dev/zero opened inside the layer denying device ioctls")
		spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST NOT restrict ioctls on regular files, directories, pipes and sockets", spec.ID("ioctl.non_device"), selftests("ioctl.handle_dir_access_dir"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		w := tree("f")
		var errs [4]error
		res := sandbox.Thread(sandbox.FS(rIoctl), func() error {
			// An open that fails ends the action: its error is the harness's, never an
			// ioctl result.
			ioctlOn := func(i int, path string, flags int) error {
				fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
				if err != nil {
					return spec.SetupFailed("open "+path, err)
				}
				defer unix.Close(fd)
				errs[i] = ioctlErr(fd, ioFIONREAD)
				return nil
			}
			if err := ioctlOn(0, f(w), unix.O_RDONLY); err != nil {
				return err
			}
			if err := ioctlOn(1, w, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
				return err
			}
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				return fmt.Errorf("pipe2: %w", err)
			}
			errs[2] = ioctlErr(p[0], ioFIONREAD)
			unix.Close(p[0])
			unix.Close(p[1])
			sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("socketpair: %w", err)
			}
			errs[3] = ioctlErr(sp[0], ioFIONREAD)
			unix.Close(sp[0])
			unix.Close(sp[1])
			return nil
		})
		spec.ExpectErrno(res, nil, "ioctls in a domain handling ioctl_dev")
		for i, what := range []string{"regular file", "directory", "pipe", "socketpair"} {
			if !notEACCES(errs[i]) {
				Fail(fmt.Sprintf("ioctl_dev handled, no rule: FIONREAD on a %s: got EACCES, want anything else", what))
			}
		}
		spec.FeatureVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST deny terminal ioctls on a pseudo-terminal master with EACCES unless granted", spec.ID("ioctl.pty"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		// A bare initramfs may have the devpts instance's own ptmx node but no /dev/ptmx.
		ptmx, errs := "", []string{}
		for _, p := range []string{"/dev/ptmx", "/dev/pts/ptmx"} {
			err := actions.OpenErr(p, unix.O_RDWR|unix.O_NOCTTY)
			if err == nil {
				ptmx = p
				break
			}
			errs = append(errs, fmt.Sprintf("open(%s): %s", p, spec.ErrnoName(err)))
		}
		if ptmx == "" {
			spec.Skip("no pseudo-terminal to test: %s", strings.Join(errs, ", "))
		}
		expectDeviceIoctlGranted(ptmx, unix.O_RDWR, ioctlCmd{name: "TIOCGPTN", cmd: unix.TIOCGPTN})
		spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST deny block device ioctls with EACCES unless granted", spec.ID("ioctl.block_device"), func() {
		if !supportsOrRejected(ioctlRight) {
			return
		}
		dev := blockDevice()
		expectDeviceIoctlGranted(dev, unix.O_RDONLY, ioctlCmd{name: "BLKGETSIZE64", cmd: unix.BLKGETSIZE64})
		spec.EnforcedVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})

	It("MUST NOT restrict device ioctls when IOCTL_DEV is unknown (below ABI 5) or not handled, even with every other right handled", spec.ID("ioctl.unhandled"), func() {
		handled := allFS() &^ rIoctl
		p := sandbox.FS(handled, actions.Rule("/dev/zero", handled&landlock.AccessFSFileRights))
		err := deviceIoctl(p, "/dev/zero", unix.O_RDONLY, fionread)[0]
		if !notEACCES(err) {
			Fail(fmt.Sprintf("%s: ioctl(/dev/zero, FIONREAD): got EACCES, want anything else", actions.PolicyText(p)))
		}
		if !spec.Supports(ioctlRight.ABI) {
			expectRightRejected(ioctlRight)
		}
		spec.FeatureVerdict(ioctlRight.Feature(), ioctlRight.ABI)
	})
})

// expectDeviceIoctlGranted checks that c on dev (opened with flags) is denied with EACCES
// in a domain handling IOCTL_DEV without a rule, and succeeds once a rule on dev grants it.
func expectDeviceIoctlGranted(dev string, flags int, c ioctlCmd) {
	GinkgoHelper()
	cmds := []ioctlCmd{c}
	spec.ExpectErr(deviceIoctl(sandbox.FS(rIoctl), dev, flags, cmds)[0], unix.EACCES, "ioctl_dev handled, no rule: ioctl(%s, %s)", dev, c.name)
	spec.ExpectErr(deviceIoctl(sandbox.FS(rIoctl, actions.Rule(dev, rIoctl)), dev, flags, cmds)[0], nil, "ioctl_dev granted on %s: ioctl(%s, %s)", dev, dev, c.name)
}

// blockDevice returns a block device the runner can open read-only, skipping the spec
// when there is none.
func blockDevice() string {
	GinkgoHelper()
	for _, d := range []string{"/dev/loop0", "/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/ram0", "/dev/zram0", "/dev/vdb"} {
		st, err := os.Stat(d)
		if err != nil || st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
			continue
		}
		if actions.OpenErr(d, unix.O_RDONLY) == nil {
			return d
		}
	}
	spec.Skip("no block device the runner can open (tried loop0, vda, sda, nvme0n1, ram0, zram0, vdb)")
	return ""
}
