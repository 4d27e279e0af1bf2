//! What masking costs a PostgreSQL copy of the finance sample: the same copy with and
//! without the finance profile's rules, in one run. A measurement, not a check:
//! `DATAALM_MASK_BENCH_MB=300 cargo test --release -p dataalm-ops --test mask_cost -- --ignored --nocapture`

use dataalm_core::progress::Silent;
use dataalm_core::{CopyOptions, Location, Profile};
use dataalm_engine::postgres::{PgDb, PgEngine};
use dataalm_engine::{Engine, MaskSet};
use dataalm_mask::MaskKey;
use dataalm_pgtest::Cluster;
use std::time::Instant;

#[test]
#[ignore = "a measurement, not a check"]
fn masked_and_plain_copies_of_the_finance_sample() {
    let mb: u64 = std::env::var("DATAALM_MASK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let cluster = Cluster::shared("bench");
    let db = cluster.create_database("prod").unwrap();
    let source = Location::Postgres(cluster.url(&db));
    let mut conn = PgDb::open(&source, false).unwrap();
    let options = dataalm_finance::SampleOptions {
        size_bytes: mb * 1_000_000,
        ..Default::default()
    };
    dataalm_finance::create(&mut conn, &options, &Silent).unwrap();
    drop(conn);
    let profile = Profile::builtin("finance").unwrap();
    let set = MaskSet::new(profile.mask, &MaskKey::from_bytes(&[5; 32]).unwrap());
    let copy = CopyOptions::default();
    let mut times = Vec::new();
    for round in 0..4 {
        let masked = round % 2 == 1;
        let staging =
            PgEngine.staging_location(&source, &format!("op-20260101-000000-{round:04x}"));
        let started = Instant::now();
        let stats = PgEngine
            .copy_masked(&source, &staging, &copy, masked.then_some(&set), &Silent)
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        let values: u64 = stats.masked.iter().map(|(_, n)| n).sum();
        println!(
            "{}: {secs:.2} s, {values} values masked",
            if masked { "masked" } else { "plain " }
        );
        times.push((masked, secs));
        PgEngine.drop_database(&staging).unwrap();
    }
    let best = |m: bool| {
        times
            .iter()
            .filter(|t| t.0 == m)
            .map(|t| t.1)
            .fold(f64::MAX, f64::min)
    };
    println!("masked / plain = {:.3}", best(true) / best(false));
}
