package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is a process-mode action: it runs in a helper process after the policy is
// enforced, reads os.Stdin and writes os.Stdout if the spec talks to it, and returns data
// for the spec and its error.
type Action func(args []string) ([]byte, error)

var (
	actionsMu sync.Mutex
	actions   = map[string]Action{}
)

// Register makes an action available to Process and Start under name. Call it from an
// init function, so the helper process, which runs the same binary, has it too.
func Register(name string, a Action) {
	actionsMu.Lock()
	defer actionsMu.Unlock()
	if _, dup := actions[name]; dup {
		panic("sandbox: action registered twice: " + name) // a programming error, caught at init
	}
	actions[name] = a
}

const helperEnv = "LLCONFORM_SANDBOX_HELPER"

// The helper's private channels, above stdin, stdout and stderr.
const (
	requestFd = 3
	resultFd  = 4
)

type request struct {
	Policy Policy   `json:"policy"`
	Action string   `json:"action"`
	Args   []string `json:"args"`
}

type response struct {
	Errno int    `json:"errno,omitempty"`
	Error string `json:"error,omitempty"`
	Setup string `json:"setup,omitempty"`
	Data  []byte `json:"data,omitempty"`
}

// Main turns the process into a process-mode helper when it was started as one, and
// returns at once otherwise. Call it first thing in TestMain or main, after every Register.
func Main() {
	if os.Getenv(helperEnv) == "" {
		return
	}
	// Landlock restricts the calling thread; locking keeps the action on that thread, and
	// anything the action forks or execs inherits its domain.
	runtime.LockOSThread()
	out := os.NewFile(resultFd, "sandbox-result")
	resp := serve(os.NewFile(requestFd, "sandbox-request"))
	if err := json.NewEncoder(out).Encode(resp); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox helper: write result: %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func serve(in io.Reader) response {
	var req request
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return response{Setup: fmt.Sprintf("read request: %v", err)}
	}
	actionsMu.Lock()
	act, ok := actions[req.Action]
	actionsMu.Unlock()
	if !ok {
		return response{Setup: fmt.Sprintf("unknown action %q (registered: %v)", req.Action, registered())}
	}
	if err := req.Policy.Enforce(); err != nil {
		return response{Setup: fmt.Sprintf("enforce policy: %v", err)}
	}
	data, err := act(req.Args)
	resp := response{Data: data}
	if err != nil {
		resp.Error = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			resp.Errno = int(errno)
		}
	}
	return resp
}

func registered() []string {
	actionsMu.Lock()
	defer actionsMu.Unlock()
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Proc is a running process-mode helper.
type Proc struct {
	cmd    *exec.Cmd
	result *os.File
	stderr bytes.Buffer
	// Stdin and Stdout are connected to the action's standard input and output, for
	// specs that synchronise with it.
	Stdin  io.WriteCloser
	Stdout io.ReadCloser
}

// HelperName is the file name of the small helper binary (cmd/llconform-sandbox) that make
// build puts beside the suite binaries. It links every suite's actions and little else: a
// suite binary links Ginkgo, Gomega and their dependencies, and starting one costs three
// times as much as the helper in a TCG guest, for every process-mode spec.
const HelperName = "llconform-sandbox"

// Executable returns the program helper processes run: the helper binary beside the
// running one when there is one, else the running binary itself (a suite run with go
// test). Both hold the same actions; the kernel logs this path as exe= of their domains.
// It is looked up once per process, not at every helper's start.
var Executable = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	helper := filepath.Join(filepath.Dir(self), HelperName)
	if fi, err := os.Stat(helper); err == nil && fi.Mode().IsRegular() {
		return helper, nil
	}
	return self, nil
})

// Start runs action in a new helper process under p and returns without waiting.
func Start(p Policy, action string, args ...string) (*Proc, error) {
	self, err := Executable()
	if err != nil {
		return nil, err
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	pr := &Proc{cmd: exec.Command(self), result: resR}
	pr.cmd.Env = append(os.Environ(), helperEnv+"=1")
	pr.cmd.ExtraFiles = []*os.File{reqR, resW} // fds 3 and 4
	pr.cmd.Stderr = &pr.stderr
	if pr.Stdin, err = pr.cmd.StdinPipe(); err == nil {
		pr.Stdout, err = pr.cmd.StdoutPipe()
	}
	if err == nil {
		err = pr.cmd.Start()
	}
	reqR.Close()
	resW.Close()
	if err != nil {
		reqW.Close()
		resR.Close()
		return nil, fmt.Errorf("start helper %s: %w", action, err)
	}
	err = json.NewEncoder(reqW).Encode(request{Policy: p, Action: action, Args: args})
	reqW.Close()
	if err != nil {
		pr.Kill()
		return nil, fmt.Errorf("send request to helper %s: %w", action, err)
	}
	return pr, nil
}

// Pid returns the helper's process ID.
func (pr *Proc) Pid() int { return pr.cmd.Process.Pid }

// Kill stops the helper and reaps it.
func (pr *Proc) Kill() {
	_ = pr.cmd.Process.Kill()
	pr.Wait()
}

// Wait waits for the helper to finish and returns what its action did.
func (pr *Proc) Wait() Result {
	raw, readErr := io.ReadAll(pr.result)
	pr.result.Close()
	pr.Stdin.Close()
	waitErr := pr.cmd.Wait()
	var resp response
	if len(raw) == 0 || json.Unmarshal(raw, &resp) != nil {
		return Result{Setup: fmt.Errorf("helper gave no result (read: %v, exit: %v, stderr: %q)", readErr, waitErr, pr.stderr.String())}
	}
	res := Result{Data: resp.Data}
	switch {
	case resp.Setup != "":
		res.Setup = errors.New(resp.Setup)
	case resp.Errno != 0:
		res.Err = unix.Errno(resp.Errno)
	case resp.Error != "":
		res.Err = errors.New(resp.Error)
	}
	// A helper exits 0 once its result is written: anything else (a crash in the
	// runtime's exit path, a signal) makes the run suspect, so the harness says so.
	if waitErr != nil && res.Setup == nil {
		res.Setup = fmt.Errorf("helper ended abnormally after writing its result: %v (stderr: %q)", waitErr, pr.stderr.String())
	}
	return res
}

// Process runs action in a helper process under p and waits for it.
func Process(p Policy, action string, args ...string) Result {
	pr, err := Start(p, action, args...)
	if err != nil {
		return Result{Setup: err}
	}
	return pr.Wait()
}
