#include "textflag.h"

// func forkNonLeader(fd int, stack, tidword, mask uintptr) (pid int, errno int)
//
// The arm64 version of nonleader_linux_amd64.s, which says what it does. Only registers
// and system calls are used after the fork: the child runs no Go code.
TEXT ·forkNonLeader(SB), NOSPLIT, $0-48
	MOVD	fd+0(FP), R19
	MOVD	stack+8(FP), R20
	MOVD	tidword+16(FP), R21
	MOVD	mask+24(FP), R22

	// clone(SIGCHLD, 0, 0, 0, 0): a plain fork.
	MOVD	$17, R0
	MOVD	$0, R1
	MOVD	$0, R2
	MOVD	$0, R3
	MOVD	$0, R4
	MOVD	$220, R8
	SVC
	CMP	$0, R0
	BEQ	child
	BLT	failed
	MOVD	R0, pid+32(FP)
	MOVD	$0, R1
	MOVD	R1, errno+40(FP)
	RET
failed:
	NEG	R0, R0
	MOVD	$0, R1
	MOVD	R1, pid+32(FP)
	MOVD	R0, errno+40(FP)
	RET

child:
	// rt_sigprocmask(SIG_SETMASK, mask, NULL, 8): no signal may run the runtime's
	// handlers here.
	MOVD	$2, R0
	MOVD	R22, R1
	MOVD	$0, R2
	MOVD	$8, R3
	MOVD	$135, R8
	SVC
	// set_tid_address(tidword), then *tidword = the leader's tid.
	MOVD	R21, R0
	MOVD	$96, R8
	SVC
	MOVW	R0, (R21)
	// clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, stack)
	MOVD	$0x50f00, R0
	MOVD	R20, R1
	MOVD	$0, R2
	MOVD	$0, R3
	MOVD	$0, R4
	MOVD	$220, R8
	SVC
	CMP	$0, R0
	BEQ	thread
	BLT	childfailed
	// The leader: exit(0), this thread only.
	MOVD	$0, R0
	MOVD	$93, R8
	SVC
childfailed:
	NEG	R0, R0
	MOVD	$94, R8
	SVC

thread:
	// futex(tidword, FUTEX_WAIT, value) until the leader's exit has zeroed it.
	MOVWU	(R21), R2
	CBZ	R2, gone
	MOVD	R21, R0
	MOVD	$0, R1
	MOVD	$0, R3
	MOVD	$98, R8
	SVC
	B	thread
gone:
	// prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	MOVD	$38, R0
	MOVD	$1, R1
	MOVD	$0, R2
	MOVD	$0, R3
	MOVD	$0, R4
	MOVD	$167, R8
	SVC
	// landlock_restrict_self(fd, 0)
	MOVD	R19, R0
	MOVD	$0, R1
	MOVD	$446, R8
	SVC
	// exit_group(-result): 0 on success, else the errno.
	NEG	R0, R0
	MOVD	$94, R8
	SVC
	RET
