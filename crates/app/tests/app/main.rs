//! Tests of dataalm-app against a small finance-shaped database in memory, one binary.

mod broadcast;
mod capture;
mod fixture;
mod jobs;
mod neutralize;
mod reconfigure;
mod userlist;
mod users;
