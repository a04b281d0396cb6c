/*
 * The lab VM's "operating system": a 512-byte boot sector that talks on
 * COM1 only, so SOL tests get deterministic text ~0.15 s after power on
 * (TCG, SeaBIOS) instead of a kernel's boot.
 *
 * It prints "IRONRACK-GUEST up" and a "guest> " prompt, then echoes what it
 * receives with a-z upper-cased (so a test can tell the guest's answer from
 * its own keys), a new prompt for each CR, and "<BREAK>" when the UART sees
 * a line break (QEMU raises it for a telnet IAC BREAK). It halts between
 * interrupts, so an idle VM costs almost no CPU.
 *
 * Build (binutils): as --32 -o g.o serial-echo.S &&
 *   ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o guest.img g.o
 */
    .code16
    .text
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    movw $irq4, 0x30            /* IVT entry 0Ch (IRQ 4, COM1): offset */
    movw %ax, 0x32              /* and segment 0 */

    mov $0x3fb, %dx             /* LCR: DLAB on, divisor 1 = 115200 baud */
    mov $0x80, %al
    out %al, %dx
    mov $0x3f8, %dx
    mov $1, %al
    out %al, %dx
    inc %dx
    xor %al, %al
    out %al, %dx
    mov $0x3fb, %dx             /* 8N1, DLAB off */
    mov $3, %al
    out %al, %dx
    mov $0x3fc, %dx             /* MCR: DTR, RTS, OUT2 (routes the IRQ) */
    mov $0x0b, %al
    out %al, %dx
    mov $0x3f9, %dx             /* IER: received data + line status */
    mov $0x05, %al
    out %al, %dx
    in $0x21, %al               /* unmask IRQ 4 at the PIC */
    and $0xef, %al
    out %al, $0x21
    sti

    mov $banner, %si
    call puts
idle:
    hlt                         /* until the UART (or the BIOS timer) */
poll:
    mov $0x3fd, %dx             /* LSR */
    in %dx, %al
    test $0x10, %al             /* break interrupt */
    jz 1f
    mov $brk, %si
    call puts
    mov $0x3f8, %dx             /* a break also queues a NUL: drop it */
    in %dx, %al
    jmp poll
1:  test $0x01, %al             /* data ready */
    jz idle
    mov $0x3f8, %dx
    in %dx, %al
    cmp $0x0d, %al
    jne 2f
    mov $prompt, %si
    call puts
    jmp poll
2:  cmp $'a', %al
    jb 3f
    cmp $'z', %al
    ja 3f
    sub $0x20, %al
3:  call putc
    jmp poll

putc:                           /* AL to COM1 once the transmitter is free */
    push %dx
    push %ax
    mov $0x3fd, %dx
4:  in %dx, %al
    test $0x20, %al
    jz 4b
    pop %ax
    mov $0x3f8, %dx
    out %al, %dx
    pop %dx
    ret

puts:                           /* NUL-terminated string at DS:SI */
    lodsb
    test %al, %al
    jz 5f
    call putc
    jmp puts
5:  ret

irq4:                           /* wake from hlt; the main loop reads the UART */
    push %ax
    mov $0x20, %al              /* EOI */
    out %al, $0x20
    pop %ax
    iret

banner: .asciz "\r\nIRONRACK-GUEST up\r\nguest> "
brk:    .asciz "<BREAK>"
prompt: .asciz "\r\nguest> "

    .org 510
    .byte 0x55, 0xaa
