#!/usr/bin/env bash
# Start/stop N simulated BMCs (OpenIPMI ipmi_sim) on loopback.
#
#   lab/bmcs.sh start N [--base-port P] [--ip-per-bmc] [--dir D] [--power on|off]
#                       [--sol-port S | --qemu-port Q [--qemu-disk IMG] [--qemu-args ARGS]]
#   lab/bmcs.sh stop --dir D
#   lab/bmcs.sh status --dir D
#
# Default: BMC i listens on 127.0.0.1:(P+i-1), P=9001. With --ip-per-bmc BMC i
# listens on 127.0.1.i:623 instead. Each BMC gets D/bmcI/ with lan.conf,
# bmc.emu, a chassis_control backend keeping power/boot state in files, a
# fresh ipmi_sim state dir, its log and pid. D/bmcs.txt lists "name host port".
# Users: ADMIN/password (administrator), operator/operator (operator).
# With --sol-port S, BMC i's SOL serial port is a TCP connection that ipmi_sim
# opens to 127.0.0.1:(S+i-1) (e.g. a QEMU "-serial tcp:...,server" or a test).
#
# With --qemu-port Q, a QEMU machine (TCG, 32 MB) stands behind each BMC:
# power on starts it, off kills it, reset/soft go to its monitor, and the
# boot device picks -boot (lab/qemu-chassis.sh). BMC i uses three TCP ports
# from Q+3(i-1): the SOL wire (lab/serial-relay.py, which ipmi_sim reaches
# as sol "telnet:..."), the VM's telnet serial port, and its VNC server (so
# Q must be >= 5900). The VM boots lab/guest/serial-echo.S (prints
# "IRONRACK-GUEST up", echoes keys upper-cased, "<BREAK>" on a break) unless
# --qemu-disk IMG names another raw disk; --qemu-args "..." adds QEMU
# arguments (e.g. a NIC for PXE). D/bmcI/qemu.pid holds the VM's pid.
# Needs: apt-get install -y openipmi ipmitool freeipmi-tools
#        (--qemu-port: qemu-system-x86 socat binutils python3)
set -euo pipefail

die() { echo "bmcs.sh: $*" >&2; exit 1; }
lab_dir=$(cd "$(dirname "$0")" && pwd)

cmd=${1:-}; shift || true
count=0
if [[ $cmd == start ]]; then
    count=${1:-}; shift || true
    [[ $count =~ ^[0-9]+$ && $count -ge 1 ]] || die "usage: start N [--base-port P] [--ip-per-bmc] [--dir D]"
fi
base_port=9001
ip_per_bmc=0
dir=
power=off
sol_port=
qemu_port=
qemu_disk=
qemu_args=
while [[ $# -gt 0 ]]; do
    case $1 in
        --base-port) base_port=$2; shift 2 ;;
        --ip-per-bmc) ip_per_bmc=1; shift ;;
        --dir) dir=$2; shift 2 ;;
        --power) power=$2; shift 2 ;;
        --sol-port) sol_port=$2; shift 2 ;;
        --qemu-port) qemu_port=$2; shift 2 ;;
        --qemu-disk) qemu_disk=$2; shift 2 ;;
        --qemu-args) qemu_args=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done

# Hex bytes of a FRU type/length field (8-bit ASCII, FRU spec 13) + text.
fru_field() {
    local s=$1 k
    printf '0x%02x ' $((0xC0 | ${#s}))
    for ((k = 0; k < ${#s}; k++)); do printf '0x%02x ' "'${s:k:1}"; done
}

# Close a FRU area: 0xC1 end marker, pad to 8 bytes, zero-sum checksum.
# Reads hex bytes as arguments (first two are version and a length
# placeholder), prints the finished area.
fru_area() {
    local -a b=("$@" 0xc1)
    while (((${#b[@]} + 1) % 8)); do b+=(0x00); done
    b[1]=$(((${#b[@]} + 1) / 8))
    local sum=0 x
    for x in "${b[@]}"; do sum=$((sum + x)); done
    b+=($(((256 - sum % 256) % 256)))
    for x in "${b[@]}"; do printf '0x%02x ' $((x)); done
}

# FRU image: common header, board area, product area (Platform Management
# FRU Information Storage Definition v1.0, sections 8, 11, 12).
fru_image() {
    local serial=$1
    # Board: version, length, language 0, mfg time (minutes since 1996) 3 bytes.
    local board product
    board=$(fru_area 0x01 0 0x00 0x10 0x32 0x0c \
        $(fru_field "Ironrack") $(fru_field "IR-Board") $(fru_field "BRD$serial") \
        $(fru_field "PN-100") $(fru_field ""))
    product=$(fru_area 0x01 0 0x00 \
        $(fru_field "Ironrack") $(fru_field "IR-1000") $(fru_field "IR1000-A") \
        $(fru_field "1.0") $(fru_field "SN$serial") $(fru_field "TAG$serial") $(fru_field ""))
    local -a bw=($board)
    local board_off=1 product_off=$((1 + ${#bw[@]} / 8))
    local -a hdr=(0x01 0x00 0x00 $board_off $product_off 0x00 0x00)
    local sum=0 x
    for x in "${hdr[@]}"; do sum=$((sum + x)); done
    hdr+=($(((256 - sum % 256) % 256)))
    for x in "${hdr[@]}"; do printf '0x%02x ' $((x)); done
    echo "$board $product"
}

hexstr() { local s=$1 k; for ((k = 0; k < ${#s}; k++)); do printf '0x%02x ' "'${s:k:1}"; done; }

# Full sensor record (SDR type 01h, IPMI spec 43.1) for a threshold sensor.
# args: num entity type units2 M Rexp nominal name
full_sdr() {
    local num=$1 ent=$2 typ=$3 unit=$4 m=$5 rexp=$6 nominal=$7 name=$8
    echo "main_sdr_add 0x20 0x00 0x00 0x51 0x01 $((43 + ${#name})) \\"
    echo "  0x20 0x00 $num $ent 0x01 0x67 0x88 $typ 0x01 0xc0 0x0f 0xc0 0x7f 0x38 0x38 \\"
    echo "  0x00 $unit 0x00 0x00 $m 0x00 0x00 0x00 0x00 $rexp 0x03 $nominal 0xf0 0x00 0xff 0x00 \\"
    echo "  0xfe 0xfd 0xfc 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 \\"
    echo "  $((0xc0 | ${#name})) $(hexstr "$name")"
}

# Compact sensor record (SDR type 02h, IPMI spec 43.2) for a discrete sensor.
compact_sdr() {
    local num=$1 ent=$2 typ=$3 name=$4
    echo "main_sdr_add 0x20 0x00 0x00 0x51 0x02 $((27 + ${#name})) \\"
    echo "  0x20 0x00 $num $ent 0x01 0x67 0x40 $typ 0x6f 0x03 0x00 0x03 0x00 0x03 0x00 \\"
    echo "  0xc0 0x00 0x00 0x01 0x00 0x00 0x00 0x00 0x00 0x00 0x00 \\"
    echo "  $((0xc0 | ${#name})) $(hexstr "$name")"
}

# Records that name something without a reading: an event-only sensor
# (type 03h, IPMI spec 43.3), a logical FRU device locator (11h, 43.8) and
# the BMC's own management controller locator (12h, 43.9; static presence).
eventonly_sdr() { # num entity type name
    local name=$4
    echo "main_sdr_add 0x20 0x00 0x00 0x51 0x03 $((12 + ${#name})) \\"
    echo "  0x20 0x00 $1 $2 0x01 $3 0x6f 0x01 0x00 0x00 0x00 $((0xc0 | ${#name})) $(hexstr "$name")"
}
fru_locator_sdr() { # device-id name
    local name=$2
    echo "main_sdr_add 0x20 0x00 0x00 0x51 0x11 $((11 + ${#name})) \\"
    echo "  0x20 $1 0x80 0x00 0x00 0x10 0x00 0x07 0x01 0x00 $((0xc0 | ${#name})) $(hexstr "$name")"
}
mc_locator_sdr() { # name
    local name=$1
    echo "main_sdr_add 0x20 0x00 0x00 0x51 0x12 $((11 + ${#name})) \\"
    echo "  0x20 0x00 0x20 0x8f 0x00 0x00 0x00 0x07 0x01 0x00 $((0xc0 | ${#name})) $(hexstr "$name")"
}

# Single-quoted for sh (qemu.conf is sourced by qemu-chassis.sh).
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# lan.conf's SOL line for BMC i: the relay in front of its VM, a plain TCP
# port (--sol-port), or none.
sol_line() {
    local i=$1
    if [[ -n $qemu_port ]]; then
        echo "  sol \"telnet:127.0.0.1:$((qemu_port + 3 * (i - 1)))\" 115200 history=65000"
    elif [[ -n $sol_port ]]; then
        echo "  sol \"tcp:127.0.0.1:$((sol_port + i - 1))\" 115200 history=4096"
    fi
}

write_bmc() {
    local i=$1 d=$2 host=$3 port=$4
    mkdir -p "$d/state"
    printf '%s\n' "$([[ $power == on ]] && echo 1 || echo 0)" > "$d/power"
    echo default > "$d/boot"
    cat > "$d/chassis_control" <<'CC'
#!/bin/sh
# ipmi_sim chassis_control backend: "DIR get power|boot ..." or
# "DIR set power 0|1 | boot DEV | reset 1 | shutdown 1 ...". State in DIR.
d=$1; op=$2; shift 2
case $op in
get)
    for p in "$@"; do
        case $p in
        power) echo "power:$(cat "$d/power" 2>/dev/null || echo 0)" ;;
        boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)" ;;
        esac
    done ;;
set)
    while [ $# -ge 2 ]; do
        case $1 in
        power) echo "$2" > "$d/power" ;;
        boot) echo "$2" > "$d/boot" ;;
        shutdown) echo 0 > "$d/power" ;;
        reset) echo "reset $(date +%s)" >> "$d/events" ;;
        esac
        echo "set $1 $2" >> "$d/events"
        shift 2
    done ;;
esac
exit 0
CC
    chmod +x "$d/chassis_control"
    local cc=$d/chassis_control
    if [[ -n $qemu_port ]]; then
        cc=$lab_dir/qemu-chassis.sh
        local base=$((qemu_port + 3 * (i - 1)))
        {
            echo "QEMU_SERIAL_PORT=$((base + 1))"
            echo "QEMU_VNC_DISPLAY=$((base + 2 - 5900))"
            echo "QEMU_DISK=$(sq "$qemu_disk")"
            echo "QEMU_ARGS=$(sq "$qemu_args")"
        } > "$d/qemu.conf"
    fi
    cat > "$d/lan.conf" <<CONF
name "bmc$i"
set_working_mc 0x20
  startlan 1
    addr $host $port
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789ab$(printf '%04x' "$i")
  endlan
  chassis_control "$cc $d"
$(sol_line "$i")
  user 2 true  "ADMIN" "password" admin 10 none md2 md5 straight
  user 3 true  "operator" "operator" operator 10 none md2 md5 straight
CONF
    {
        echo "mc_setbmc 0x20"
        echo "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr"
        echo "sel_enable 0x20 1000 0x0a"
        full_sdr 0x01 0x03 0x01 0x01 0x01 0x00 0x28 "CPU Temp"
        full_sdr 0x02 0x07 0x02 0x04 0x06 0xe0 0xc8 "Sys 12V"
        full_sdr 0x03 0x1d 0x04 0x12 0x4b 0x00 0x50 "FAN1"
        compact_sdr 0x04 0x0a 0x08 "PSU1 Status"
        eventonly_sdr 0x05 0x07 0x12 "Sys Event"
        fru_locator_sdr 0x00 "Board FRU"
        mc_locator_sdr "BMC"
        echo "sensor_add 0x20 0 1 0x01 0x01"
        echo "sensor_set_value 0x20 0 1 0x28 0"
        echo "sensor_add 0x20 0 2 0x02 0x01"
        echo "sensor_set_value 0x20 0 2 0xc8 0"
        echo "sensor_add 0x20 0 3 0x04 0x01"
        echo "sensor_set_value 0x20 0 3 0x50 0"
        echo "sensor_add 0x20 0 4 0x08 0x6f"
        echo "sensor_set_bit_clr_rest 0x20 0 4 0 1 0"
        echo "mc_add_fru_data 0x20 0 256 data $(fru_image "$(printf '%04d' "$i")")"
        # Two SEL entries: temperature upper critical, PSU presence.
        echo "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x59 0x5a 0x5a"
        echo "sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x08 0x04 0x6f 0x00 0xff 0xff"
        echo "mc_enable 0x20"
    } > "$d/bmc.emu"
}

is_our_sim() { # pid dir: only a process we started (ipmi_sim with our config)
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q "ipmi_sim -c $2/lan.conf"
}

wait_listening() { # host port pid [proto: u|t]
    local t proto=${4:-u}
    if ! command -v ss > /dev/null; then # no iproute2: give it a moment
        sleep 0.3
        kill -0 "$3" 2>/dev/null
        return
    fi
    for t in $(seq 1 50); do
        if ss -H"$proto"lnp 2>/dev/null | grep -q "$1:$2 .*pid=$3,"; then return 0; fi
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

is_our_relay() { # pid port
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q "serial-relay.py $2 "
}

# Stop everything under $dir, by the PIDs we recorded: VMs (through their
# chassis backend), then the simulators (SIGTERM together, SIGKILL after
# 3 s; ipmi_sim takes ~1 s to exit), then the serial relays.
stop_all() {
    local pf pid d k alive
    for d in "$dir"/bmc*; do
        [[ -f $d/qemu.conf ]] && "$lab_dir/qemu-chassis.sh" "$d" set power 0
    done
    declare -a pids=() dirs=()
    for pf in "$dir"/bmc*/pid; do
        [[ -f $pf ]] || continue
        pid=$(cat "$pf"); d=$(dirname "$pf")
        if is_our_sim "$pid" "$d"; then
            kill "$pid" 2>/dev/null || true
            pids+=("$pid"); dirs+=("$d")
        fi
        rm -f "$pf"
    done
    for _ in $(seq 1 60); do
        alive=0
        for k in "${!pids[@]}"; do
            is_our_sim "${pids[k]}" "${dirs[k]}" && alive=1
        done
        ((alive)) || break
        sleep 0.05
    done
    for k in "${!pids[@]}"; do
        if is_our_sim "${pids[k]}" "${dirs[k]}"; then kill -9 "${pids[k]}" 2>/dev/null || true; fi
    done
    declare -a relays=()
    for pf in "$dir"/bmc*/relay.pid; do
        [[ -f $pf ]] || continue
        read -r pid port < "$pf"
        if is_our_relay "$pid" "$port"; then
            kill "$pid" 2>/dev/null || true
            relays+=("$pid $port")
        fi
        rm -f "$pf"
    done
    for _ in $(seq 1 20); do
        alive=0
        for k in "${relays[@]}"; do
            is_our_relay $k && alive=1
        done
        ((alive)) || break
        sleep 0.05
    done
}

case $cmd in
start)
    command -v ipmi_sim > /dev/null || die "ipmi_sim not installed (apt-get install -y openipmi)"
    if [[ -n $qemu_port ]]; then
        [[ $qemu_port =~ ^[0-9]+$ ]] && ((qemu_port >= 5900 && qemu_port + 3 * count <= 65536)) \
            || die "--qemu-port must leave 3 ports per BMC between 5900 and 65535 (VNC needs >= 5900)"
        [[ -z $sol_port ]] || die "--sol-port and --qemu-port both set the SOL port; give one"
        for bin in qemu-system-x86_64 socat python3; do
            command -v $bin > /dev/null || die "$bin not installed (apt-get install -y qemu-system-x86 socat python3)"
        done
    fi
    [[ -n $dir ]] || dir=$(mktemp -d /tmp/ironrack-bmcs.XXXXXX)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    : > "$dir/bmcs.txt"
    # A failed start leaves nothing running.
    trap '[[ $? -eq 0 ]] || stop_all' EXIT
    if [[ -n $qemu_port && -z $qemu_disk ]]; then
        command -v as > /dev/null || die "as not installed (apt-get install -y binutils)"
        as --32 -o "$dir/guest.o" "$lab_dir/guest/serial-echo.S" \
            && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$dir/guest.img" "$dir/guest.o" \
            || die "cannot build the guest boot sector"
        qemu_disk=$dir/guest.img
    fi
    [[ -z $qemu_disk ]] || qemu_disk=$(cd "$(dirname "$qemu_disk")" && pwd)/$(basename "$qemu_disk")
    for ((i = 1; i <= count; i++)); do
        d=$dir/bmc$i
        rm -rf "$d"
        if ((ip_per_bmc)); then host=127.0.1.$i port=623; else host=127.0.0.1 port=$((base_port + i - 1)); fi
        write_bmc "$i" "$d" "$host" "$port"
        if [[ -n $qemu_port ]]; then
            # The SOL wire is up before ipmi_sim connects to it at start.
            wire=$((qemu_port + 3 * (i - 1)))
            python3 "$lab_dir/serial-relay.py" "$wire" "$((wire + 1))" < /dev/null > "$d/relay.log" 2>&1 &
            echo "$! $wire" > "$d/relay.pid"
            wait_listening 127.0.0.1 "$wire" "$!" t \
                || { cat "$d/relay.log" >&2; die "bmc$i: serial relay did not start on 127.0.0.1:$wire"; }
        fi
        (cd "$d" && exec ipmi_sim -c "$d/lan.conf" -f "$d/bmc.emu" -s "$d/state" -n \
            < /dev/null > "$d/ipmi_sim.log" 2>&1) &
        echo $! > "$d/pid"
        wait_listening "$host" "$port" "$(cat "$d/pid")" \
            || { cat "$d/ipmi_sim.log" >&2; die "bmc$i did not start on $host:$port"; }
        if [[ -n $qemu_port && $power == on ]]; then
            "$lab_dir/qemu-chassis.sh" "$d" set power 1
        fi
        echo "bmc$i $host $port" >> "$dir/bmcs.txt"
    done
    echo "$dir"
    ;;
stop)
    [[ -n $dir && -d $dir ]] || die "usage: stop --dir D"
    dir=$(cd "$dir" && pwd)
    stop_all
    ;;
status)
    [[ -n $dir && -d $dir ]] || die "usage: status --dir D"
    dir=$(cd "$dir" && pwd)
    while read -r name host port; do
        d=$dir/$name
        pf=$d/pid
        if [[ -f $pf ]] && is_our_sim "$(cat "$pf")" "$d"; then s=running; else s=stopped; fi
        if [[ -f $d/qemu.conf ]]; then
            p=$("$lab_dir/qemu-chassis.sh" "$d" get power)
            p=${p#power:}
            vm=" vm=$([[ $p == 1 ]] && echo "running pid $(cat "$d/qemu.pid")" || echo off)"
        else
            p=$(cat "$d/power") vm=
        fi
        echo "$name $host:$port $s power=$([[ $p == 1 ]] && echo on || echo off) boot=$(cat "$d/boot")$vm"
    done < "$dir/bmcs.txt"
    ;;
*) die "usage: bmcs.sh start N [--base-port P] [--ip-per-bmc] [--dir D] [--power on|off] [--sol-port S] [--qemu-port Q [--qemu-disk IMG] [--qemu-args ARGS]] | stop --dir D | status --dir D" ;;
esac
