//! The command line (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  internal error (I/O, a damaged home, an audit log that fails verification)
  2  usage (bad arguments, an unreadable input file, an app that is not installed)
  3  package rejected (the findings are printed)
  4  the app was terminated by the sandbox (a trap, its fuel, a monitor verdict)
  5  denied (untrusted or revoked publisher, id pinned to another publisher,
     quarantined app, definitions not signed by the home's definitions key)

With --json, standard output is one JSON object: {\"ok\": true, ...} or
{\"ok\": false, \"exit\": N, \"error\": \"...\", \"help\": \"...\", ...} (docs/cli.md).
Every error names the next step, in its message or on a `help:` line under it.";

/// The simulator's default port.
pub(crate) const DEFAULT_PORT: u16 = 7300;

/// `sandframe`: install, run and audit mini-apps in a sandbox.
#[derive(Debug, Parser)]
#[command(name = "sandframe", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The home directory (default: $SANDFRAME_HOME, else the platform data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print one JSON object on standard output instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a publisher key pair: DIR/publisher.key (secret, mode 0600) and DIR/publisher.pub.
    Keygen {
        /// Directory to write the two files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace an existing key pair (the old secret key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Build and sign a package from a source directory.
    Pack {
        /// The source directory (manifest.toml, logic.wasm|logic.wat|Cargo.toml, views/, assets/).
        src: PathBuf,
        /// The publisher's secret key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the .sfpkg.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a package as install would (signature, publisher, digests, static analysis,
    /// capabilities, views), without installing it.
    Verify {
        /// The package.
        package: PathBuf,
        /// A trusted publisher's .pub file (repeatable); default: the home's trust store.
        #[arg(long, value_name = "PUBFILE")]
        trust: Vec<PathBuf>,
    },
    /// The publishers this home trusts.
    Trust {
        /// add, list or remove.
        #[command(subcommand)]
        action: TrustAction,
    },
    /// Verify and install a package (an update keeps the app's storage).
    Install {
        /// The .sfpkg file.
        package: PathBuf,
    },
    /// The installed apps.
    List,
    /// An installed app's manifest, grants and storage.
    Info {
        /// The app id.
        app: String,
    },
    /// Run an app: show its view, trigger its bound events, answer its capability prompts.
    ///
    /// With --events FILE it runs unattended and prints the view after each event. Without
    /// a terminal on standard input it never waits: prompts are answered by --grant,
    /// --deny-all or --policy, else refused, and it says which.
    Run {
        /// The app id.
        app: String,
        /// A JSON list of events: {"tap": "LABEL or PATH"}, {"input": "PATH", "value": "…"},
        /// {"lifecycle": "show"|"hide"}, {"handler": "NAME", "detail": {…}}.
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
        /// Answer a consent prompt for CAP with yes (repeatable).
        #[arg(long, value_name = "CAP")]
        grant: Vec<String>,
        /// Answer every other consent prompt with no.
        #[arg(long)]
        deny_all: bool,
        /// A consent policy (TOML: grant = [..], deny = [..], deny_apis = [..]).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The name user.getProfile answers with (default: $USER).
        #[arg(long, value_name = "NAME")]
        profile_name: Option<String>,
        /// Show the app in a browser instead (the simulator, without the dev features):
        /// serves on 127.0.0.1 and prints the address.
        #[arg(long, conflicts_with_all = ["events", "grant", "deny_all", "policy"])]
        serve: bool,
        /// The port for --serve (0: any free port).
        #[arg(long, default_value_t = DEFAULT_PORT, requires = "serve")]
        port: u16,
        /// The network door's settings.
        #[command(flatten, next_help_heading = "Network")]
        net: NetArgs,
    },
    /// The simulator: pack SRC_DIR with a development key, install it in a temporary home,
    /// and show it in a browser, live; every save re-packs and relaunches it.
    Dev {
        /// The mini-app's source directory.
        src: PathBuf,
        /// The port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
        /// The name user.getProfile answers with (default: $USER).
        #[arg(long, value_name = "NAME")]
        profile_name: Option<String>,
        /// The network door's settings.
        #[command(flatten, next_help_heading = "Network")]
        net: NetArgs,
    },
    /// The app's stored grants.
    Grants {
        /// The app id.
        app: String,
    },
    /// Revoke a grant; the app loses it at its next call.
    Revoke {
        /// The app id.
        app: String,
        /// The capability, e.g. user:readProfile.
        capability: String,
    },
    /// The audit trail (of one app, or all), verified against its anchor first.
    Audit {
        /// The app id (default: every record).
        app: Option<String>,
        /// Only verify the whole log, and say what was checked.
        #[arg(long)]
        verify: bool,
    },
    /// Security definitions (blocked digests, publishers, patterns).
    Defs {
        /// update.
        #[command(subcommand)]
        action: DefsAction,
    },
    /// Uninstall an app: its package, artifact, storage, grants and keys go; its audit trail
    /// and publisher pin stay.
    Uninstall {
        /// The app id.
        app: String,
    },
    /// Release an app the monitor quarantined, once you have read why (`sandframe audit APP`):
    /// it launches again, watched as before.
    Release {
        /// The app id.
        app: String,
    },
    /// A scripted tour on a throwaway home: pack, install, run, a consent prompt, storage
    /// across a relaunch, a hostile app rejected and another terminated, the audit verified.
    Demo {
        /// An examples directory to use instead of the examples this binary carries.
        #[arg(long, value_name = "DIR")]
        examples: Option<PathBuf>,
    },
    /// Make a new mini-app in the directory NAME: a manifest (its id derived from NAME), a
    /// view, its logic and a README; it packs, installs and runs as it is.
    New {
        /// The app's name: lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// What the logic is written in.
        #[arg(long, value_enum, default_value_t = Template::Wat)]
        template: Template,
    },
}

/// The logic of a new mini-app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// WebAssembly text against host ABI v1: nothing to install.
    Wat,
    /// Rust with sandframe-sdk, built for wasm32-unknown-unknown (the SDK's source is written
    /// beside the app, and the app depends on it by path).
    Rust,
    /// JavaScript (`runtime = "js@1"`: a WeChat-style `Page` in logic.js, run on the host's
    /// QuickJS engine): nothing to install.
    Js,
}

/// `sandframe trust ...`.
#[derive(Debug, Subcommand)]
pub enum TrustAction {
    /// Trust a publisher's key.
    Add {
        /// The publisher.pub file.
        pubfile: PathBuf,
        /// A display name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// The trusted publishers.
    List,
    /// Stop trusting a publisher (its installed apps no longer launch).
    Remove {
        /// The publisher.pub file, or the key itself (ed25519:…).
        key: String,
    },
}

/// `sandframe defs ...`.
#[derive(Debug, Subcommand)]
pub enum DefsAction {
    /// Accept a signed definitions file, newer than the current one.
    Update {
        /// The signed definitions (made by `cargo xtask defs`).
        file: PathBuf,
        /// The definitions signer's .pub file; needed the first time, and to change it.
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
    },
}

/// The network door's settings for `run` and `dev` (apps reach only the origins their
/// manifests declare and their grants cover; these narrow that, or open what development
/// needs).
#[derive(Args, Clone, Debug, Default)]
pub struct NetArgs {
    /// Let apps reach only origins inside ORIGIN (repeatable), e.g. https://*.example.com.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Never let apps reach ORIGIN (repeatable); a declared origin it overlaps is dropped whole.
    #[arg(long = "deny-origin", value_name = "ORIGIN")]
    pub deny_origin: Vec<String>,
    /// Development: let apps reach addresses in CIDR (repeatable), e.g. 127.0.0.1/32 for a
    /// service on this machine; refused by default, as every address that is not public is.
    #[arg(long = "allow-private", value_name = "CIDR")]
    pub allow_private: Vec<String>,
    /// Development: resolve NAME to ADDR, as curl --resolve does (repeatable); every other
    /// name through the system. The address is still checked.
    #[arg(long, value_name = "NAME=ADDR")]
    pub resolve: Vec<String>,
    /// Also trust the CA certificate(s) in FILE (PEM or DER), for a development service.
    #[arg(long = "trust-ca", value_name = "FILE")]
    pub trust_ca: Vec<PathBuf>,
    /// Development: let apps reach ORIGIN over plain http (repeatable; shown as unencrypted
    /// in the consent prompt).
    #[arg(long = "allow-http", value_name = "ORIGIN")]
    pub allow_http: Vec<String>,
}
