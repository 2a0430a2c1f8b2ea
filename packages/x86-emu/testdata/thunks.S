/* Xen's return thunk and retpoline thunks (xen/arch/x86/indirect-thunk.S), for kernels built with
 * -mfunction-return=thunk-extern -mindirect-branch=thunk-extern. */
	.text
	.globl __x86_return_thunk
__x86_return_thunk:
	ret
	int3

.macro THUNK reg
	.globl __x86_indirect_thunk_\reg
__x86_indirect_thunk_\reg:
	call 1f
	int3
1:
	mov %\reg, (%rsp)
	ret
.endm
	THUNK rax
	THUNK rbx
	THUNK rcx
	THUNK rdx
	THUNK rsi
	THUNK rdi
	THUNK rbp
	THUNK r8
	THUNK r9
	THUNK r10
	THUNK r11
	THUNK r12
	THUNK r13
	THUNK r14
	THUNK r15
