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
    runtime.block_on(dataalm_server::serve_at(
        store,
        args.listen,
        tls,
        args.public_url,
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
            public,
            envs,
            json,
        } => {
            let role: Role = match role {
                Some(role) => role.parse().map_err(anyhow::Error::msg)?,
                None => Role::Admin,
            };
            if public {
                return register_public(store, &name, role, &envs, json);
            }
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
                        match (a.is_revoked(), a.public) {
                            (true, _) => "revoked",
                            (false, true) => "active (public)",
                            (false, false) => "active",
                        }
                        .into(),
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

/// `app register NAME --public`: a client with no secret, for people's password grants.
fn register_public(
    store: &Store,
    name: &str,
    role: Role,
    envs: &[String],
    json: bool,
) -> Result<()> {
    let app = store.register_public_app(name, role, envs)?;
    store.audit(
        &dataalm_ops::Actor::local().0,
        "app register",
        None,
        &format!(
            "{} ({}) public, people up to {role}",
            app.name, app.client_id
        ),
    )?;
    if json {
        return output::json(&serde_json::json!({"client_id": app.client_id, "public": true}));
    }
    outln!(
        "registered `{}` as a public client (people up to {role})",
        app.name
    );
    outln!("client id: {}", app.client_id);
    outln!("people sign in with grant_type=password and their portal name and password");
    Ok(())
}
