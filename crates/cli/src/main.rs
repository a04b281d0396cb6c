//! `ironrack`: the server processes (`serve`) and the API client commands.

mod client;
mod http;
mod ipmi_cmd;
mod lab;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ironrack",
    version,
    about = "Run bare-metal servers without touching them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: API, in-process bus, a local agent, SQLite.
    Serve(serve::ServeCmd),
    /// Run the API only; tasks go to site agents through RabbitMQ.
    Controller(serve::ControllerArgs),
    /// Run the agent of one site: take its tasks from RabbitMQ, drive its BMCs.
    Agent(serve::AgentCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// IPMI with ipmitool's options, commands and output (`ironrack ipmi -H h -U u -E power status`).
    Ipmi(ipmi_cmd::IpmiArgs),
    /// Lab tools: a virtual BMC.
    Lab {
        #[command(subcommand)]
        cmd: lab::LabCommand,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Controller(args) => serve::run_controller(args).await,
            Command::Agent(cmd) => serve::agent(cmd).await,
            Command::Client(cmd) => client::run(cmd).await,
            Command::Ipmi(args) => ipmi_cmd::run(args).await,
            Command::Lab { cmd } => lab::run(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
