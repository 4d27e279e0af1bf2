//! The command line: every flag, with the help users read.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "dataalm",
    version,
    about = "Refresh sandbox environments (UAT, training, test) from production: copy, neutralize, keep each environment's own settings, let the right users in — one safe, resumable, audited operation.",
    after_help = "Start with `dataalm demo`, which builds a production and a UAT sample and refreshes one from the other.\nEvery command takes --home (or $DATAALM_HOME): where the control plane lives (default ./.dataalm), and --store to keep it in PostgreSQL instead."
)]
pub struct Cli {
    /// Directory of the control plane (environments, plans, journal, audit log).
    #[arg(long, global = true, env = "DATAALM_HOME", default_value = ".dataalm")]
    pub home: PathBuf,

    /// Keep the control plane elsewhere than <home>/control.db: a SQLite file, or a
    /// PostgreSQL database (postgres://user@host/db, tables in schema `dataalm`) that
    /// several servers can share. Passwords as for environments: URL, $PGPASSWORD or
    /// ~/.pgpass.
    #[arg(long, global = true, env = "DATAALM_STORE", value_name = "PATH|URL")]
    pub store: Option<String>,

    /// More log output on stderr (-v info, -vv debug). $DATAALM_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build a production and a UAT sample, refresh UAT from production, reconfigure and
    /// sign off, then print what happened.
    Demo(DemoArgs),
    /// Create the `finance` sample application's database.
    #[command(subcommand)]
    Sample(SampleCommand),
    /// Register and show application profiles (where an application keeps users, jobs,
    /// settings). Environments name one; a refresh uses it as registered.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Add, list, show and remove environments.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Refresh a target environment from a source: every step, up to sign-off.
    Refresh(RefreshArgs),
    /// Masking of personal data in the copy: suggest [[mask]] rules for a profile, and
    /// check that no raw value survived in a masked sandbox.
    #[command(subcommand)]
    Mask(MaskCommand),
    /// Show an operation's steps (the latest when no id is given).
    Status(StatusArgs),
    /// List the operations, newest first.
    History(HistoryArgs),
    /// Accept a refreshed environment: the previous database is dropped.
    Signoff(OpArgs),
    /// Give back the environment as it was before the refresh.
    Rollback(OpArgs),
    /// Continue an interrupted or failed refresh where it stopped.
    Resume(OpArgs),
    /// Stop a refresh before its cutover: staging dropped, the target left as it was.
    Cancel(OpArgs),
    /// Post a broadcast message to an environment's signed-in users.
    Message(MessageArgs),
    /// Set or show an environment's reconfiguration plan.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Apply an environment's plan now (--dry-run shows the changes only).
    Reconfigure(ReconfigureArgs),
    /// List, enable, disable and export an environment's users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// List batch jobs and set their status.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Show the audit log: who changed what, where, when, and how it went.
    Audit(AuditArgs),
    /// Run the REST API (OAuth2 client-credentials tokens; see `dataalm app`).
    Serve(ServeArgs),
    /// Register, list and revoke the apps that may call the REST API.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage the people who may sign in to the web portal (served by `dataalm serve`).
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where to put prod.db, uat.db and the control plane.
    #[arg(long, default_value = "dataalm-demo")]
    pub dir: PathBuf,
    /// Size of the production sample (e.g. 20MB, 1GB).
    #[arg(long, default_value = "20MB")]
    pub size: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum SampleCommand {
    /// Write the finance sample into a new database.
    Create(SampleCreateArgs),
}

#[derive(Args)]
pub struct SampleCreateArgs {
    /// The SQLite file to create.
    #[arg(
        long,
        required_unless_present = "postgres",
        conflicts_with = "postgres"
    )]
    pub sqlite: Option<PathBuf>,
    /// The PostgreSQL database to fill (postgres://user@host:port/db); created when
    /// missing, refused when it already has tables. The password may also come from
    /// PGPASSWORD or ~/.pgpass.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Which environment's settings to give it: production or uat.
    #[arg(long, default_value = "production")]
    pub role: String,
    /// Approximate size (e.g. 50MB, 2GB).
    #[arg(long, default_value = "50MB")]
    pub size: String,
    /// Same seed, same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Check a profile file and register its content under NAME. A name never changes
    /// content: a refresh uses what was registered, whatever becomes of the file.
    Add { name: String, file: PathBuf },
    /// List the built-in and registered profiles.
    List {
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print a profile's TOML as registered (copy `finance` to start your own).
    Show { name: String },
}

#[derive(Subcommand)]
pub enum EnvCommand {
    /// Register an environment.
    Add(EnvAddArgs),
    /// List environments.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one environment.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an environment's settings: any of those `env add` takes, a throttle, a time
    /// zone; or make its next refresh use a new mask key.
    Set(EnvSetArgs),
    /// Forget an environment (its database is left alone).
    Remove { name: String },
}

#[derive(Args)]
pub struct EnvSetArgs {
    pub name: String,
    /// production, sandbox or dev.
    #[arg(long)]
    pub kind: Option<String>,
    /// Move it to this SQLite database file.
    #[arg(long, conflicts_with = "postgres")]
    pub sqlite: Option<PathBuf>,
    /// Move it to this PostgreSQL URL.
    #[arg(long)]
    pub postgres: Option<String>,
    /// A registered or built-in profile name, or a TOML file (registered first).
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
    /// The application's base URL; "" removes it.
    #[arg(long)]
    pub url: Option<String>,
    /// At most N operations that change it (refreshes) in a rolling window: `3/24h`
    /// (s, m, h or d), or `off`.
    #[arg(long, value_name = "N/WINDOW|off")]
    pub throttle: Option<String>,
    /// The IANA time zone (Europe/Amsterdam) in which date-times without an offset are
    /// read (AddMessage); UTC by default.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// Forget the key its masked copies are pseudonymized with (the key is never shown).
    /// Its next refresh makes a new one, so every masked value changes; until then the
    /// same source values give the same pseudonyms. Refused while a refresh runs on it.
    #[arg(long)]
    pub rotate_mask_key: bool,
}

#[derive(Args)]
pub struct EnvAddArgs {
    pub name: String,
    /// production, sandbox or dev. Production is never a refresh target.
    #[arg(long)]
    pub kind: String,
    /// The environment's SQLite database file.
    #[arg(
        long,
        conflicts_with = "postgres",
        required_unless_present = "postgres"
    )]
    pub sqlite: Option<PathBuf>,
    /// The environment's PostgreSQL URL.
    #[arg(long)]
    pub postgres: Option<String>,
    /// The application profile: a registered or built-in name (finance, none), or a TOML
    /// file, which is registered under its file name's stem first.
    #[arg(long, default_value = "finance", value_name = "NAME|FILE")]
    pub profile: String,
    /// The application's base URL (https://uat.example.com).
    #[arg(long)]
    pub url: Option<String>,
}

#[derive(Args)]
pub struct RefreshArgs {
    /// The environment to copy (usually production). It is only read.
    #[arg(long)]
    pub from: String,
    /// The environment to replace. Never a production environment.
    #[arg(long)]
    pub to: String,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
    /// Parallel copy streams (PostgreSQL); default: one per core.
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..=dataalm_core::op::MAX_JOBS as i64))]
    pub jobs: Option<u16>,
    /// After the copy, compare row counts and checksums of every table with the source.
    #[arg(long)]
    pub verify: bool,
    /// Do not copy owners and grants (PostgreSQL); objects belong to the target's user.
    #[arg(long)]
    pub no_owner: bool,
    /// Copy tables bigger than this as several ranges in parallel (PostgreSQL).
    #[arg(long, default_value = "1GB", value_name = "SIZE")]
    pub split_above: String,
    /// Copy, this once, columns that look personal (email, phone, iban...) but have no
    /// [[mask]] rule in the target's profile. Without it such a refresh stops before the
    /// copy and lists them. The columns let through are audited. To accept them for
    /// good, list them under `unmasked` in the profile; `dataalm mask scan` suggests rules.
    #[arg(long)]
    pub allow_unmasked: bool,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum MaskCommand {
    /// Suggest [[mask]] rules for columns that look personal and have no rule.
    ///
    /// The columns of ENV's database that look personal (by name, or by e-mail and IBAN
    /// values in a sample of rows) and that its profile neither masks nor accepts under
    /// `unmasked`: the transformer each would take, and why, then the rules as TOML to
    /// add to the profile. Reads only; no value is printed.
    Scan {
        /// The environment whose database to look at (usually production).
        #[arg(long)]
        env: String,
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Check that no raw value of a masked column survived in a sandbox (exit 1 if any).
    ///
    /// For each masked column of the sandbox's profile, a random sample of the source's
    /// values (--sample per column) is looked up in the sandbox. A value found is raw
    /// data that survived: counted by table and column, never shown. Exits 1 when any
    /// survived. `date_shift` columns are not checked (shifted dates are real dates).
    Check(MaskCheckArgs),
}

#[derive(Args)]
pub struct MaskCheckArgs {
    /// The masked sandbox to check.
    #[arg(long)]
    pub env: String,
    /// The environment it was copied from; default: the source of its latest refresh.
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// How many of the source's values to look for, per masked column (all of them in
    /// smaller tables).
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub sample: u32,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Operation id; the latest when omitted.
    pub op: Option<String>,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Only operations on this environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct OpArgs {
    /// Operation id (see `dataalm history`).
    pub op: String,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct MessageArgs {
    #[arg(long)]
    pub env: String,
    /// Start of the message's validity: RFC 3339, `YYYY-MM-DD HH:MM` (UTC), `now`, `now+1h`.
    #[arg(long)]
    pub from: String,
    /// End of the message's validity, after --from.
    #[arg(long)]
    pub to: String,
    #[arg(
        long,
        default_value = "This environment will be unavailable for maintenance."
    )]
    pub text: String,
}

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Check a plan file against the environment and store it.
    Set { env: String, file: PathBuf },
    /// Print the environment's plan.
    Show { env: String },
}

#[derive(Args)]
pub struct ReconfigureArgs {
    pub env: String,
    /// Show what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users.
    List {
        #[arg(long)]
        env: String,
        #[arg(long, conflicts_with = "disabled")]
        enabled: bool,
        #[arg(long)]
        disabled: bool,
        /// Only users whose id, name or e-mail contains this.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Enable users by id or e-mail, or from a CSV/XLSX file. All or nothing.
    Enable(UsersChangeArgs),
    /// Disable users by id or e-mail, or from a CSV/XLSX file. All or nothing.
    Disable(UsersChangeArgs),
    /// Write the users to a spreadsheet (edit it, then `users enable --file`).
    Export {
        #[arg(long)]
        env: String,
        #[arg(long)]
        xlsx: PathBuf,
    },
}

#[derive(Args)]
pub struct UsersChangeArgs {
    #[arg(long)]
    pub env: String,
    /// A .csv or .xlsx file with a column of ids or e-mails.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// User ids or e-mails.
    pub users: Vec<String>,
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// List batch jobs.
    List {
        #[arg(long)]
        env: String,
        /// Only jobs with this status (withhold, waiting, executing, error, ended...).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set the status of jobs: every withheld one, or those listed.
    SetStatus {
        #[arg(long)]
        env: String,
        #[arg(long)]
        status: String,
        #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
        all_withheld: bool,
        /// Job ids.
        ids: Vec<String>,
    },
}

#[derive(Args)]
pub struct AuditArgs {
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
#[command(
    after_help = "Operations run in the background; their journal is the truth. Servers sharing a PostgreSQL control plane (--store postgres://...) each run the operations they start, holding a lease they renew; when a server dies, another takes its operations over once the lease lapses: 30 s, or $DATAALM_LEASE_SECS (the same for every server)."
)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one and prints it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first);
    /// needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The URL clients reach this server at (behind a proxy, say), for the OpenID
    /// discovery documents and tokens; default: each request's own scheme and host.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register an app: prints its client id and secret (the secret only this once).
    Register {
        name: String,
        /// reader (reads), operator (refreshes, signs off, changes users and jobs) or
        /// admin (also environments, plans, registrations, audit log). For a public
        /// client, the most its people may do (default admin: their own role decides).
        #[arg(long, required_unless_present = "public")]
        role: Option<String>,
        /// A public client: no secret; people sign in through it with their portal
        /// name and password (OAuth2 password grant, as d365fo.tools does) and act
        /// with their own role, at most --role, on at most the --env environments.
        #[arg(long)]
        public: bool,
        /// Environments it may touch (repeat the flag); all when not given.
        #[arg(long = "env")]
        envs: Vec<String>,
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List registrations, revoked ones too.
    List {
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a registration (by client id or name): its tokens stop working at once.
    Revoke { app: String },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a portal account. The password is asked for on the terminal, or read from
    /// the first line of standard input when that is not a terminal.
    CreateUser {
        name: String,
        /// reader (sees everything), operator (refreshes, signs off, changes users, jobs
        /// and messages) or admin (also plans and the audit log).
        #[arg(long)]
        role: String,
    },
    /// List portal accounts.
    ListUsers {
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it cannot sign in, and its sessions end now. The last enabled
    /// admin cannot be disabled.
    DisableUser { name: String },
    /// Let a disabled account sign in again.
    EnableUser { name: String },
    /// Delete an account and its sessions. The last enabled admin cannot be deleted.
    DeleteUser { name: String },
    /// Set an account's password, asked for as `create-user` does; its sessions end.
    SetPassword { name: String },
    /// Sign an account out everywhere: end all its sessions.
    EndSessions { name: String },
}
