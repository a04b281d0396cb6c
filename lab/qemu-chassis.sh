#!/bin/bash
# ipmi_sim chassis_control backend with a QEMU machine (lab/bmcs.sh --qemu-port).
#
#   qemu-chassis.sh DIR get power|boot ...
#   qemu-chassis.sh DIR set power 0|1 | boot DEV | reset 1 | shutdown 1 ...
#
# Power on starts QEMU (TCG) paused and daemonized with its pid in
# DIR/qemu.pid, waits until the serial wire (lab/serial-relay.py) is attached
# so no console output is lost, then resumes it. Power off kills that pid;
# reset and soft off (ACPI power button) go through the monitor socket
# DIR/qemu.mon. The boot device saved by "set boot" picks -boot at the next
# power on (pxe: n, cdrom: d, else c). DIR/qemu.conf sets QEMU_SERIAL_PORT,
# QEMU_VNC_DISPLAY, QEMU_DISK, QEMU_ARGS (extra arguments, word-split) and
# optionally QEMU_ATTACH_WAIT (seconds to wait for the serial client).
# Needs: qemu-system-x86, socat.
d=$1; op=$2; shift 2
. "$d/qemu.conf"
pidf=$d/qemu.pid
mon=$d/qemu.mon

vm_pid() { # the pid of our QEMU if it runs (a zombie's cmdline is empty)
    pid=$(cat "$pidf" 2>/dev/null) || return 1
    [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mon" || return 1
    echo "$pid"
}

monitor() { printf '%s\n' "$1" | socat -t 1 - "UNIX-CONNECT:$mon" 2>/dev/null; }

power_on() {
    vm_pid > /dev/null && return 0
    case $(cat "$d/boot" 2>/dev/null) in
    pxe) order=n ;;
    cdrom) order=d ;;
    *) order=c ;;
    esac
    rm -f "$pidf" "$mon"
    # ipmi_sim's sockets are not close-on-exec: keep them out of the VM
    # (its SOL link and UDP port would otherwise outlive ipmi_sim).
    (
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        [[ $fd -gt 2 ]] && eval "exec $fd>&-"
    done
    # shellcheck disable=SC2086 # QEMU_ARGS is a list of words
    exec qemu-system-x86_64 -name "$(basename "$d")-vm" -accel tcg -m 32 \
        -nodefaults -no-user-config -vga std -vnc "127.0.0.1:$QEMU_VNC_DISPLAY" \
        -serial "telnet:127.0.0.1:$QEMU_SERIAL_PORT,server=on,wait=off" \
        -monitor "unix:$mon,server=on,wait=off" \
        -drive "file=$QEMU_DISK,format=raw,snapshot=on" -boot "order=$order" \
        $QEMU_ARGS -S -daemonize -pidfile "$pidf" \
        > "$d/qemu.log" 2>&1
    ) || return 1
    # QEMU's telnet serial drops output while nothing is connected: wait
    # (QEMU_ATTACH_WAIT s, default 2) for the relay to attach before the
    # CPU runs.
    i=0
    while [ $i -lt $((${QEMU_ATTACH_WAIT:-2} * 50)) ]; do
        monitor "info chardev" | grep -q "^serial0: .*<->" && break
        sleep 0.02
        i=$((i + 1))
    done
    monitor cont > /dev/null
}

power_off() {
    pid=$(vm_pid) || { rm -f "$pidf"; return 0; }
    kill "$pid" 2>/dev/null
    i=0
    while [ $i -lt 50 ] && vm_pid > /dev/null; do sleep 0.02; i=$((i + 1)); done
    if vm_pid > /dev/null; then kill -9 "$pid" 2>/dev/null; fi
    rm -f "$pidf"
}

case $op in
get)
    for p in "$@"; do
        case $p in
        power) if vm_pid > /dev/null; then echo power:1; else echo power:0; fi ;;
        boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)" ;;
        esac
    done ;;
set)
    while [ $# -ge 2 ]; do
        case $1 in
        power) if [ "$2" = 1 ]; then power_on; else power_off; fi ;;
        boot) echo "$2" > "$d/boot" ;;
        reset) vm_pid > /dev/null && monitor system_reset > /dev/null ;;
        shutdown) vm_pid > /dev/null && monitor system_powerdown > /dev/null ;;
        esac
        echo "set $1 $2" >> "$d/events"
        shift 2
    done ;;
esac
exit 0
