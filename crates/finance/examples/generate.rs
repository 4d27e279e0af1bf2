//! Generates a finance sample into a SQLite file and prints how long it took and how big
//! it is: `cargo run --release -p dataalm-finance --example generate -- out.db 1GB [prod|uat] [seed]`.

use dataalm_core::progress::Silent;
use dataalm_engine::sqlite::SqliteDb;
use dataalm_finance::{Role, SampleOptions};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, size, rest @ ..] = args.as_slice() else {
        return Err("usage: generate FILE SIZE [prod|uat] [SEED]".into());
    };
    let role: Role = rest.first().map_or(Ok(Role::Production), |r| r.parse())?;
    let seed: u64 = rest.get(1).map_or(Ok(1), |s| s.parse())?;
    let options = SampleOptions {
        role,
        size_bytes: dataalm_finance::parse_size(size)?,
        seed,
    };
    let started = Instant::now();
    let mut db = SqliteDb::create(Path::new(path))?;
    let stats = dataalm_finance::create(&mut db, &options, &Silent)?;
    drop(db);
    let elapsed = started.elapsed();
    let file_bytes = std::fs::metadata(path)?.len();
    for (table, rows) in &stats.tables {
        println!("{table:32} {rows:>12}");
    }
    println!(
        "{role} sample of {} bytes asked, {file_bytes} bytes on disk ({:+.1} %), {} rows, in {:.1} s",
        options.size_bytes,
        (file_bytes as f64 / options.size_bytes as f64 - 1.0) * 100.0,
        stats.total_rows(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
