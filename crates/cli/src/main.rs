//! The `sandframe` command: see the `sandframe-cli` crate documentation and `docs/cli.md`.

fn main() -> std::process::ExitCode {
    sandframe_cli::main()
}
