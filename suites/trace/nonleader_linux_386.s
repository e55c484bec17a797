#include "textflag.h"

// func forkNonLeader(fd int, stack, tidword, mask uintptr) (pid int, errno int)
//
// nonleader_linux_amd64.s for i386's system calls (int $0x80: number in AX, arguments in
// BX, CX, DX, SI, DI, BP, every register but AX kept). The forked child still reads its
// arguments from its copy of this frame; the thread it starts, on its own stack, gets what
// it needs in registers clone ignores without CLONE_SETTLS and the tid flags: the ruleset
// in DI, tidword in BP. Only registers and system calls are used after the fork.
TEXT ·forkNonLeader(SB), NOSPLIT, $0-24
	// clone(SIGCHLD): a plain fork.
	MOVL	$120, AX
	MOVL	$17, BX
	XORL	CX, CX
	XORL	DX, DX
	XORL	SI, SI
	XORL	DI, DI
	INT	$0x80
	CMPL	AX, $0
	JEQ	child
	JLT	failed
	MOVL	AX, pid+16(FP)
	MOVL	$0, errno+20(FP)
	RET
failed:
	NEGL	AX
	MOVL	$0, pid+16(FP)
	MOVL	AX, errno+20(FP)
	RET

child:
	// rt_sigprocmask(SIG_SETMASK, mask, NULL, 8): no signal may run the runtime's
	// handlers here.
	MOVL	$175, AX
	MOVL	$2, BX
	MOVL	mask+12(FP), CX
	XORL	DX, DX
	MOVL	$8, SI
	INT	$0x80
	// set_tid_address(tidword), then *tidword = the leader's tid.
	MOVL	$258, AX
	MOVL	tidword+8(FP), BX
	INT	$0x80
	MOVL	AX, (BX)
	// clone(CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, stack);
	// i386's clone takes (flags, stack, parent_tid, tls, child_tid).
	MOVL	$120, AX
	MOVL	$0x50f00, BX
	MOVL	stack+4(FP), CX
	XORL	DX, DX
	XORL	SI, SI
	MOVL	fd+0(FP), DI
	MOVL	tidword+8(FP), BP
	INT	$0x80
	CMPL	AX, $0
	JEQ	thread
	JLT	childfailed
	// The leader: exit(0), this thread only.
	MOVL	$1, AX
	XORL	BX, BX
	INT	$0x80
childfailed:
	NEGL	AX
	MOVL	AX, BX
	MOVL	$252, AX
	INT	$0x80

thread:
	// futex(tidword, FUTEX_WAIT, value, NULL) until the leader's exit has zeroed it.
	MOVL	(BP), DX
	CMPL	DX, $0
	JEQ	gone
	MOVL	$240, AX
	MOVL	BP, BX
	XORL	CX, CX
	XORL	SI, SI
	INT	$0x80
	JMP	thread
gone:
	// prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), which takes DI as its fifth argument: the
	// ruleset moves to BP, no longer needed for tidword.
	MOVL	DI, BP
	MOVL	$172, AX
	MOVL	$38, BX
	MOVL	$1, CX
	XORL	DX, DX
	XORL	SI, SI
	XORL	DI, DI
	INT	$0x80
	// landlock_restrict_self(fd, 0)
	MOVL	$446, AX
	MOVL	BP, BX
	XORL	CX, CX
	INT	$0x80
	// exit_group(-result): 0 on success, else the errno.
	NEGL	AX
	MOVL	AX, BX
	MOVL	$252, AX
	INT	$0x80
	RET
