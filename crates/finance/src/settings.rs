//! Environment-specific settings of production and UAT: what a refresh must keep on the
//! target. They differ on purpose, so after a refresh it is plain to see that UAT still
//! talks to its own batch servers, SMTP relay, help site and integration endpoints.

use crate::Role;

/// Batch groups: the same in every environment, as they are part of the application.
pub(crate) const BATCH_GROUPS: &[(&str, &str)] = &[
    ("DEFAULT", "Jobs without a group"),
    ("FINANCE", "Posting, settlement and period close"),
    ("INTEGRATION", "Imports and exports with other systems"),
    ("REPORTING", "Reports and entity store refresh"),
];

/// What one environment has of its own.
pub(crate) struct Settings {
    pub environment_name: &'static str,
    /// Batch servers: id, description, maximum threads.
    pub servers: &'static [(&'static str, &'static str, i64)],
    /// Batch group → batch server rows.
    pub group_servers: &'static [(&'static str, &'static str)],
    pub smtp_relay_server: &'static str,
    pub smtp_user_name: &'static str,
    pub sender_address: &'static str,
    pub help_url: &'static str,
    pub support_url: &'static str,
    /// Integration endpoints: name and URL.
    pub endpoints: &'static [(&'static str, &'static str)],
}

const PRODUCTION: Settings = Settings {
    environment_name: "Contoso Finance — Production",
    servers: &[
        ("PROD-AOS-01", "Production application server", 8),
        ("PROD-BATCH-01", "Production batch server 1", 16),
        ("PROD-BATCH-02", "Production batch server 2", 16),
    ],
    group_servers: &[
        ("DEFAULT", "PROD-AOS-01"),
        ("DEFAULT", "PROD-BATCH-01"),
        ("FINANCE", "PROD-BATCH-01"),
        ("FINANCE", "PROD-BATCH-02"),
        ("INTEGRATION", "PROD-BATCH-02"),
        ("REPORTING", "PROD-BATCH-02"),
    ],
    smtp_relay_server: "smtp.contoso.com",
    smtp_user_name: "erp-mailer@contoso.com",
    sender_address: "erp@contoso.com",
    help_url: "https://help.contoso.com",
    support_url: "https://support.contoso.com",
    endpoints: &[
        (
            "bank_statements",
            "https://api.bank.contoso.com/v2/statements",
        ),
        ("tax_calculation", "https://tax.contoso.com/api/calculate"),
        ("edi_gateway", "https://edi.contoso.com/inbound"),
        ("payroll_export", "https://payroll.contoso.com/api/import"),
    ],
};

const UAT: Settings = Settings {
    environment_name: "Contoso Finance — UAT",
    servers: &[
        ("UAT-AOS-01", "UAT application server", 4),
        ("UAT-BATCH-01", "UAT batch server", 8),
    ],
    group_servers: &[
        ("DEFAULT", "UAT-BATCH-01"),
        ("FINANCE", "UAT-BATCH-01"),
        ("INTEGRATION", "UAT-BATCH-01"),
        ("REPORTING", "UAT-BATCH-01"),
    ],
    smtp_relay_server: "smtp-uat.contoso.com",
    smtp_user_name: "erp-mailer-uat@contoso.com",
    sender_address: "erp-uat@contoso.com",
    help_url: "https://help-uat.contoso.com",
    support_url: "https://support-uat.contoso.com",
    endpoints: &[
        (
            "bank_statements",
            "https://api-sandbox.bank.contoso.com/v2/statements",
        ),
        (
            "tax_calculation",
            "https://tax-uat.contoso.com/api/calculate",
        ),
        ("edi_gateway", "https://edi-uat.contoso.com/inbound"),
        (
            "payroll_export",
            "https://payroll-uat.contoso.com/api/import",
        ),
    ],
};

/// The settings an environment of `role` starts with.
pub(crate) fn for_role(role: Role) -> &'static Settings {
    match role {
        Role::Production => &PRODUCTION,
        Role::Uat => &UAT,
    }
}

impl Settings {
    /// System parameters as name/value pairs; the environment-specific ones first.
    pub fn system_parameters(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("environment_name", self.environment_name),
            ("help_url", self.help_url),
            ("support_url", self.support_url),
            ("base_currency", "USD"),
            ("default_company", "USMF"),
            ("fiscal_year_start", "01-01"),
            ("date_format", "YYYY-MM-DD"),
            ("session_timeout_minutes", "60"),
        ]
    }
}
