//! `dataalm serve` and `dataalm app ...`: the REST API and who may call it.

use crate::cli::{AppCommand, ServeArgs};
use crate::output;
use anyhow::{Context, Result};
use dataalm_core::Location;
use dataalm_core::access::Role;
use dataalm_store::Store;

pub fn serve(store: &Location, args: ServeArgs) -> Result<()> {
    // Checked before anything starts: a wrong file is refused at once.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            dataalm_server::tls::server_config(cert, key)
                .context("cannot serve HTTPS; nothing was started")?,
        ),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(dataalm_server::serve_with(
        store,
        args.listen,
        tls,
        |addr| {
            // Scripts (and the tests) read the address from this line.
            outln!("dataalm API listening on {scheme}://{addr}");
        },
    ))?;
    Ok(())
}

pub fn app(store: &Store, cmd: AppCommand) -> Result<()> {
    match cmd {
        AppCommand::Register {
            name,
            role,
            envs,
            json,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (app, secret) = store.register_app(&name, role, &envs)?;
            store.audit(
                &dataalm_ops::Actor::local().0,
                "app register",
                None,
                &format!("{} ({}) as {role}", app.name, app.client_id),
            )?;
            if json {
                return output::json(&serde_json::json!({
                    "client_id": app.client_id,
                    "client_secret": secret,
                }));
            }
            outln!("registered `{}` as {role}", app.name);
            outln!("client id:     {}", app.client_id);
            outln!("client secret: {secret}");
            outln!("keep the secret now: it is stored hashed and cannot be shown again");
            Ok(())
        }
        AppCommand::List { json } => {
            let apps = store.apps()?;
            if json {
                return output::json(&apps);
            }
            let rows: Vec<Vec<String>> = apps
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.client_id.clone(),
                        a.role.to_string(),
                        if a.environments.is_empty() {
                            "all".into()
                        } else {
                            a.environments.join(", ")
                        },
                        if a.is_revoked() { "revoked" } else { "active" }.into(),
                    ]
                })
                .collect();
            output::table(
                &["name", "client id", "role", "environments", "state"],
                &rows,
            );
            Ok(())
        }
        AppCommand::Revoke { app } => {
            let revoked = store.revoke_app(&app)?;
            store.audit(
                &dataalm_ops::Actor::local().0,
                "app revoke",
                None,
                &format!("{} ({})", revoked.name, revoked.client_id),
            )?;
            outln!("revoked `{}` ({})", revoked.name, revoked.client_id);
            Ok(())
        }
    }
}
