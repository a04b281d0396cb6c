//! A real machine behind the BMC: ipmi_sim with a QEMU VM (lab/bmcs.sh
//! --qemu-port; the VM boots lab/guest/serial-echo.S, which prints
//! "IRONRACK-GUEST up", echoes keys upper-cased and reports "<BREAK>"), and
//! our virtual BMC bridged to a QEMU telnet serial port. Power goes through
//! the engine and is checked on the QEMU process and with ipmitool; the
//! console is the engine's SOL stream. One VM at a time (`one_vm`).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::read_until;
use ironrack_ipmi::bmc::{BmcConfig, SerialPort, Server};
use ironrack_ipmi::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const BANNER: &[u8] = b"IRONRACK-GUEST up\r\nguest> ";

/// Nothing arrives within `d` (what did is returned for the message).
async fn quiet_for<R: AsyncRead + Unpin>(r: &mut R, d: Duration) -> Result<(), Vec<u8>> {
    let mut buf = [0u8; 256];
    match timeout(d, r.read(&mut buf)).await {
        Err(_) => Ok(()),
        Ok(n) => Err(buf[..n.unwrap_or(0)].to_vec()),
    }
}

fn engine_config(bmc: &common::Bmc) -> Config {
    bmc.config().timeout(Duration::from_millis(800))
}

#[tokio::test]
async fn power_through_the_engine_runs_the_vm() {
    let _vm = common::one_vm().await;
    let Some(bmc) = common::Bmc::start_qemu("power_through_the_engine_runs_the_vm") else {
        return;
    };
    let engine = Engine::bind("127.0.0.1".parse().unwrap(), 1).await.unwrap();
    let mut s = engine.connect(engine_config(&bmc)).await.expect("connect");
    assert!(!s.chassis_status().await.unwrap().power_on);
    assert!(
        bmc.ipmitool(&["power", "status"])
            .contains("Chassis Power is off")
    );
    assert_eq!(bmc.vm_pid(), None);

    // The boot device is read at power on: PXE first.
    s.set_boot_device(BootFlags::new(BootDevice::Pxe, false, false))
        .await
        .unwrap();
    s.chassis_control(ChassisControl::PowerOn).await.unwrap();
    let pid = bmc.vm_pid().expect("a QEMU process after power on");
    let cmd = common::Bmc::cmdline(pid);
    assert!(cmd.starts_with("qemu-system-x86_64 "), "{cmd}");
    assert!(cmd.contains("-boot order=n"), "{cmd}");
    assert!(s.chassis_status().await.unwrap().power_on);
    assert!(
        bmc.ipmitool(&["power", "status"])
            .contains("Chassis Power is on")
    );

    // A reset goes to the running machine: same process.
    s.chassis_control(ChassisControl::HardReset).await.unwrap();
    assert_eq!(bmc.vm_pid(), Some(pid));

    s.chassis_control(ChassisControl::PowerOff).await.unwrap();
    assert_eq!(bmc.vm_pid(), None, "QEMU {pid} still runs after power off");
    assert!(!s.chassis_status().await.unwrap().power_on);
    assert!(
        bmc.ipmitool(&["power", "status"])
            .contains("Chassis Power is off")
    );

    // Disk next; ipmitool powers it on, the engine sees it.
    s.set_boot_device(BootFlags::new(BootDevice::Disk, false, false))
        .await
        .unwrap();
    assert!(bmc.ipmitool(&["power", "on"]).contains("Up/On"));
    let pid2 = bmc.vm_pid().expect("QEMU after ipmitool power on");
    assert_ne!(pid2, pid);
    assert!(common::Bmc::cmdline(pid2).contains("-boot order=c"));
    assert!(s.chassis_status().await.unwrap().power_on);
    s.close().await.unwrap();
}

#[tokio::test]
async fn sol_carries_the_vm_console_through_the_engine() {
    let _vm = common::one_vm().await;
    let Some(bmc) = common::Bmc::start_qemu("sol_carries_the_vm_console_through_the_engine") else {
        return;
    };
    let engine = Engine::bind("127.0.0.1".parse().unwrap(), 1).await.unwrap();
    let mut console = engine
        .connect(engine_config(&bmc))
        .await
        .expect("connect")
        .sol_activate(1)
        .await
        .expect("activate SOL");
    let mut ctl = engine.connect(engine_config(&bmc)).await.expect("connect");

    // Power on with the console open: the VM's first words arrive.
    ctl.chassis_control(ChassisControl::PowerOn).await.unwrap();
    read_until(&mut console, BANNER).await;

    // Keys reach the guest, which answers in upper case.
    console.write_all(b"hello vm\r").await.unwrap();
    read_until(&mut console, b"HELLO VM\r\nguest> ").await;

    // A break: ipmi_sim queues it for a telnet serial port but writes it
    // only with the next data (lanserv/sol.c), so it shows with the next
    // key, before it.
    console.send_break();
    console.write_all(b"k").await.unwrap();
    read_until(&mut console, b"<BREAK>K").await;

    // Power cycle: the console stays, the new boot shows on it.
    ctl.chassis_control(ChassisControl::PowerOff).await.unwrap();
    assert_eq!(bmc.vm_pid(), None);
    ctl.chassis_control(ChassisControl::PowerOn).await.unwrap();
    read_until(&mut console, BANNER).await;

    console.close().await.expect("close console");
    ctl.close().await.unwrap();
}

/// A QEMU VM alone (our BMC has no power control), started and stopped
/// through lab/qemu-chassis.sh with a telnet serial port.
struct Vm {
    dir: PathBuf,
    serial: SocketAddr,
}

impl Vm {
    fn start(test: &str) -> Option<Vm> {
        for bin in ["qemu-system-x86_64", "socat", "as"] {
            if !Command::new("sh")
                .args(["-c", &format!("command -v {bin}")])
                .output()
                .is_ok_and(|o| o.status.success())
            {
                common::skip(test, &format!("{bin} not installed"));
                return None;
            }
        }
        let lab = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../lab");
        let dir = std::env::temp_dir().join(format!("ironrack-vm-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let obj = dir.join("g.o");
        let img = dir.join("guest.img");
        assert!(
            Command::new("as")
                .arg("--32")
                .arg("-o")
                .arg(&obj)
                .arg(lab.join("guest/serial-echo.S"))
                .status()
                .unwrap()
                .success()
        );
        assert!(
            Command::new("ld")
                .args([
                    "-m",
                    "elf_i386",
                    "-Ttext",
                    "0x7c00",
                    "--oformat",
                    "binary",
                    "-o"
                ])
                .arg(&img)
                .arg(&obj)
                .status()
                .unwrap()
                .success()
        );
        let port = common::free_tcp_ports(2);
        std::fs::write(
            dir.join("qemu.conf"),
            format!(
                "QEMU_SERIAL_PORT={port}\nQEMU_VNC_DISPLAY={}\nQEMU_DISK='{}'\nQEMU_ARGS=''\nQEMU_ATTACH_WAIT=0\n",
                port + 1 - 5900,
                img.display()
            ),
        )
        .unwrap();
        let vm = Vm {
            serial: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        vm.chassis(&["set", "power", "1"]);
        Some(vm)
    }

    fn chassis(&self, args: &[&str]) {
        let lab = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../lab");
        let ok = Command::new(lab.join("qemu-chassis.sh"))
            .arg(&self.dir)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "qemu-chassis.sh {args:?}");
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.chassis(&["set", "power", "0"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn our_bmc_sends_a_break_to_the_vm_at_once() {
    let _vm = common::one_vm().await;
    let Some(vm) = Vm::start("our_bmc_sends_a_break_to_the_vm_at_once") else {
        return;
    };
    let mut cfg = BmcConfig::new("ADMIN", b"pw");
    cfg.serial = Some(SerialPort {
        addr: vm.serial,
        telnet: true,
    });
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run());
    let mut console = Session::connect(
        Config::new("127.0.0.1", "ADMIN", "pw")
            .port(port)
            .timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap()
    .sol_activate(1)
    .await
    .unwrap();
    // The banner went out before anyone listened; a CR brings a prompt.
    console.write_all(b"\r").await.unwrap();
    read_until(&mut console, b"guest> ").await;
    console.write_all(b"abc").await.unwrap();
    read_until(&mut console, b"ABC").await;
    // The break reaches the guest's UART alone, without a key behind it.
    console.send_break();
    read_until(&mut console, b"<BREAK>").await;
    quiet_for(&mut console, Duration::from_millis(300))
        .await
        .expect("nothing after the break");
    console.close().await.unwrap();
}
