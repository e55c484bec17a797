#include "textflag.h"

// func forkNonLeader(fd int, stack, tidword, mask uintptr) (pid int, errno int)
//
// Forks a process whose leader starts one more thread on its own stack and exits, so that
// the new thread is the only live one while the leader lingers as a zombie; that thread
// waits for the leader to be gone (set_tid_address: the kernel zeroes *tidword and wakes it
// when the leader's memory is released), sets no_new_privs, calls
// landlock_restrict_self(fd, 0) and ends the process with exit_group(errno), 0 on success.
// Only registers and system calls are used after the fork: the child runs no Go code.
TEXT ·forkNonLeader(SB), NOSPLIT, $0-48
	MOVQ	fd+0(FP), R12
	MOVQ	stack+8(FP), R13
	MOVQ	tidword+16(FP), R14
	MOVQ	mask+24(FP), R15

	// clone(SIGCHLD): a plain fork.
	MOVQ	$56, AX
	MOVQ	$17, DI
	XORQ	SI, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	JLT	failed
	MOVQ	AX, pid+32(FP)
	MOVQ	$0, errno+40(FP)
	RET
failed:
	NEGQ	AX
	MOVQ	$0, pid+32(FP)
	MOVQ	AX, errno+40(FP)
	RET

child:
	// rt_sigprocmask(SIG_SETMASK, mask, NULL, 8): no signal may run the runtime's
	// handlers here.
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	R15, SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL
	// set_tid_address(tidword), then *tidword = the leader's tid.
	MOVQ	$218, AX
	MOVQ	R14, DI
	SYSCALL
	MOVL	AX, (R14)
	// clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, stack)
	MOVQ	$56, AX
	MOVQ	$0x50f00, DI
	MOVQ	R13, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	CMPQ	AX, $0
	JEQ	thread
	JLT	childfailed
	// The leader: exit(0), this thread only.
	MOVQ	$60, AX
	XORQ	DI, DI
	SYSCALL
childfailed:
	NEGQ	AX
	MOVQ	AX, DI
	MOVQ	$231, AX
	SYSCALL

thread:
	// futex(tidword, FUTEX_WAIT, value) until the leader's exit has zeroed it.
	MOVL	(R14), DX
	CMPL	DX, $0
	JEQ	gone
	MOVQ	$202, AX
	MOVQ	R14, DI
	XORQ	SI, SI
	XORQ	R10, R10
	SYSCALL
	JMP	thread
gone:
	// prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	MOVQ	$157, AX
	MOVQ	$38, DI
	MOVQ	$1, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	// landlock_restrict_self(fd, 0)
	MOVQ	$446, AX
	MOVQ	R12, DI
	XORQ	SI, SI
	SYSCALL
	// exit_group(-result): 0 on success, else the errno.
	NEGQ	AX
	MOVQ	AX, DI
	MOVQ	$231, AX
	SYSCALL
	RET
