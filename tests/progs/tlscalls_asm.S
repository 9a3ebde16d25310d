/*
 * write_branchy(SSL *s, const void *buf, int n): SSL_write(s, buf, n), with a
 * branch into the span between the call and the first emulated instruction
 * after it. A probe there could fire without the call: call-site placement
 * must refuse this caller.
 */
	.text
	.globl	write_branchy
	.type	write_branchy, @function
write_branchy:
	.cfi_startproc
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_offset %rbx, -16
	xorl	%ebx, %ebx
	testl	%edx, %edx
	jle	1f
	call	SSL_write@PLT
1:	movl	%eax, %ebx
	testl	%ebx, %ebx
	js	2f
	movl	%ebx, %eax
2:	popq	%rbx
	.cfi_adjust_cfa_offset -8
	ret
	.cfi_endproc
	.size	write_branchy, .-write_branchy
	.section	.note.GNU-stack,"",@progbits
