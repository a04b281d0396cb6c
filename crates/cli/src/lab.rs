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
        /// Run this many BMCs in this one process, on consecutive IPv4
        /// addresses from `--listen`'s (127.0.2.1, 127.0.2.2, ...; same port):
        /// a rack for benches without a process per BMC.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        count: u32,
    },
}

/// The `i`-th address from `first`: the IPv4 address counted up, same port.
fn nth_address(first: SocketAddr, i: u32) -> anyhow::Result<SocketAddr> {
    if i == 0 {
        return Ok(first);
    }
    let std::net::IpAddr::V4(ip) = first.ip() else {
        anyhow::bail!("--count above 1 needs an IPv4 --listen address");
    };
    let n = u32::from(ip)
        .checked_add(i)
        .context("--count runs past 255.255.255.255")?;
    Ok(SocketAddr::new(
        std::net::Ipv4Addr::from(n).into(),
        first.port(),
    ))
}

pub async fn run(cmd: LabCommand) -> anyhow::Result<()> {
    match cmd {
        LabCommand::Bmc {
            listen,
            user,
            password,
            serial,
            count,
        } => {
            let mut servers = tokio::task::JoinSet::new();
            for i in 0..count {
                let addr = nth_address(listen, i)?;
                let mut cfg = ironrack_ipmi::bmc::BmcConfig::new(&user, password.as_bytes());
                cfg.serial = serial;
                let server = ironrack_ipmi::bmc::Server::bind(addr, cfg)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                if i == 0 || i + 1 == count {
                    eprintln!(
                        "virtual BMC on udp {} (user {user}; cipher suites 17, 3)",
                        server.local_addr()?
                    );
                }
                servers.spawn(server.run());
            }
            if count > 2 {
                eprintln!("{count} virtual BMCs in all");
            }
            tokio::select! {
                r = servers.join_next() => match r {
                    Some(Ok(r)) => r.context("BMC stopped"),
                    Some(Err(e)) => Err(e).context("BMC stopped"),
                    None => Ok(()),
                },
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_addresses_step_through_octets() {
        let first: SocketAddr = "127.0.2.255:623".parse().unwrap();
        assert_eq!(nth_address(first, 0).unwrap(), first);
        assert_eq!(
            nth_address(first, 2).unwrap(),
            "127.0.3.1:623".parse::<SocketAddr>().unwrap()
        );
        assert!(nth_address("[::1]:623".parse().unwrap(), 1).is_err());
        assert!(nth_address("255.255.255.255:623".parse().unwrap(), 1).is_err());
    }
}
