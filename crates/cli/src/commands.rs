//! The dispatcher: each command to the function that runs it (in `author`, `manage`,
//! `run`, `sim`, `demo` and `new`). Nothing else lives here.

use crate::args::{Cli, Command};
use crate::home::{app_id, home_dir};
use crate::out::Out;
use crate::{CliError, author, demo, manage, run, sim};

/// Runs one command.
pub(crate) fn run(cli: Cli, out: &mut Out) -> Result<(), CliError> {
    let home = || home_dir(cli.home.clone());
    match cli.command {
        Command::Keygen { out: dir, force } => author::keygen(&dir, force, out),
        Command::Pack {
            src,
            key,
            out: dest,
        } => author::pack(&src, &key, &dest, out),
        Command::Verify { package, trust } => author::verify(&home, &package, &trust, out),
        Command::Trust { action } => manage::trust(&home()?, action, out),
        Command::Install { package } => manage::install(&home()?, &package, out),
        Command::List => manage::list(&home()?, out),
        Command::Info { app } => manage::info(&home()?, &app_id(&app)?, out),
        Command::Run {
            app,
            profile_name,
            serve: true,
            port,
            net,
            ..
        } => sim::serve_installed(&home()?, &app_id(&app)?, port, profile_name, &net, out),
        Command::Run {
            app,
            events,
            grant,
            deny_all,
            policy,
            profile_name,
            net,
            ..
        } => run::run(
            &home()?,
            &run::Options {
                app: app_id(&app)?,
                events,
                grant,
                deny_all,
                policy,
                profile_name,
                net,
            },
            out,
        ),
        Command::Grants { app } => manage::grants(&home()?, &app_id(&app)?, out),
        Command::Revoke { app, capability } => manage::revoke(&home()?, &app, &capability, out),
        Command::Audit { app, verify } => manage::audit(&home()?, app.as_deref(), verify, out),
        Command::Defs { action } => manage::defs(&home()?, action, out),
        Command::Uninstall { app } => manage::uninstall(&home()?, &app_id(&app)?, out),
        Command::Release { app } => manage::release(&home()?, &app_id(&app)?, out),
        Command::Demo { examples } => demo::demo(examples, out),
        Command::New { name, template } => crate::new::new(&name, template, out),
        Command::Dev {
            src,
            port,
            profile_name,
            net,
        } => sim::dev(&src, port, profile_name, &net, out),
    }
}
