//! The `infergate` binary: parse, run, map the outcome to an exit code. Nothing else lives here.

fn main() -> std::process::ExitCode {
    infergate::main_entry(std::env::args_os())
}
