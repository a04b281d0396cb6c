//! `ironrack lab`: tools for a simulated rack on one machine.

use std::net::SocketAddr;

use anyhow::Context;

#[derive(clap::Subcommand, Debug)]
pub enum LabCommand {
    /// A virtual BMC: RMCP+ with cipher suites 17 and 3, an in-memory
    /// chassis (power, boot device, a few sensors) and SOL bridged to a TCP
    /// serial port (e.g. QEMU `-serial telnet:HOST:PORT,server=on,wait=off`
    /// with `--serial telnet:HOST:PORT`).
    Bmc {
        /// UDP address to answer on, e.g. 127.0.0.1:6230.
        #[arg(long, default_value = "127.0.0.1:623")]
        listen: SocketAddr,
        #[arg(long, default_value = "ADMIN")]
        user: String,
        /// Password (at most 20 bytes; IPMI 2.0).
        #[arg(long, env = "IRONRACK_BMC_PASSWORD")]
        password: String,
        /// The host's serial port for SOL: `[tcp:|telnet:]IP:PORT`; telnet
        /// strips the server's telnet commands and carries serial breaks.
        #[arg(long)]
        serial: Option<ironrack_ipmi::bmc::SerialPort>,
    },
}

pub async fn run(cmd: LabCommand) -> anyhow::Result<()> {
    match cmd {
        LabCommand::Bmc {
            listen,
            user,
            password,
            serial,
        } => {
            let mut cfg = ironrack_ipmi::bmc::BmcConfig::new(&user, password.as_bytes());
            cfg.serial = serial;
            let server = ironrack_ipmi::bmc::Server::bind(listen, cfg)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!(
                "virtual BMC on udp {} (user {user}; cipher suites 17, 3)",
                server.local_addr()?
            );
            tokio::select! {
                r = server.run() => r.context("BMC stopped"),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}
