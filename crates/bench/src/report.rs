//! The benchmark's figures: one structure, printed as a table for people or as JSON for
//! scripts. Only what was measured is printed; missing figures say so.

use crate::measure::Timed;
use crate::reader::Seen;
use serde::Serialize;
use std::fmt::Write;

/// One copy method over all runs.
#[derive(Debug, Clone, Serialize)]
pub struct CopyFigures {
    pub method: String,
    pub best_seconds: f64,
    pub all_seconds: Vec<f64>,
    pub mb_per_s: f64,
    /// Best time of this method over dataalm's best time: above 1, dataalm is faster.
    pub ratio_to_dataalm: f64,
    pub peak_rss_kib: Option<u64>,
}

impl CopyFigures {
    pub fn from_runs(method: &str, runs: &[Timed], bytes: u64) -> CopyFigures {
        let all_seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
        let best_seconds = all_seconds.iter().copied().fold(f64::INFINITY, f64::min);
        CopyFigures {
            method: method.to_owned(),
            best_seconds,
            mb_per_s: bytes as f64 / 1e6 / best_seconds,
            all_seconds,
            ratio_to_dataalm: 1.0,
            peak_rss_kib: runs.iter().filter_map(|r| r.peak_rss_kib).max(),
        }
    }
}

/// A cutover or swap-back.
#[derive(Debug, Clone, Serialize)]
pub struct SwapFigures {
    /// The downtime the engine reports (it holds the exclusive lock that long), when it
    /// reports one.
    pub engine_downtime_ms: Option<f64>,
    /// The whole engine call.
    pub call_ms: f64,
    pub reader: Seen,
}

pub struct Setup {
    pub source: String,
    pub source_bytes: u64,
    pub journal_mode: String,
    pub dataalm_method: String,
    pub runs: u32,
    pub source_cached_bytes_at_start: u64,
    pub methods: Vec<CopyFigures>,
    pub cutover: SwapFigures,
    pub swap_back: SwapFigures,
    pub bench_peak_rss_kib: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub source_bytes: u64,
    pub journal_mode: String,
    pub dataalm_method: String,
    pub runs: u32,
    /// The most of the source still in the page cache when a run started.
    pub source_cached_bytes_at_start: u64,
    pub methods: Vec<CopyFigures>,
    pub cutover: SwapFigures,
    pub swap_back: SwapFigures,
    /// Peak memory of the benchmark process itself (sample generation included).
    pub bench_peak_rss_kib: Option<u64>,
}

impl Report {
    pub fn new(setup: Setup) -> Report {
        let mut methods = setup.methods;
        let dataalm = methods.first().map_or(f64::NAN, |m| m.best_seconds);
        for method in &mut methods {
            method.ratio_to_dataalm = method.best_seconds / dataalm;
        }
        Report {
            source: setup.source,
            source_bytes: setup.source_bytes,
            journal_mode: setup.journal_mode,
            dataalm_method: setup.dataalm_method,
            runs: setup.runs,
            source_cached_bytes_at_start: setup.source_cached_bytes_at_start,
            methods,
            cutover: setup.cutover,
            swap_back: setup.swap_back,
            bench_peak_rss_kib: setup.bench_peak_rss_kib,
        }
    }

    /// The figures as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "source: {} ({:.2} GB, journal_mode={}), best of {} run(s) each",
            self.source,
            self.source_bytes as f64 / 1e9,
            self.journal_mode,
            self.runs
        );
        let _ = writeln!(
            out,
            "page cache: source dropped before each run (fadvise DONTNEED); at most {:.1} MB of it still cached at a start",
            self.source_cached_bytes_at_start as f64 / 1e6
        );
        let _ = writeln!(out, "dataalm method: {}", self.dataalm_method);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<24} {:>9} {:>9} {:>11} {:>11}  all runs (s)",
            "method", "best s", "MB/s", "x dataalm", "peak RSS"
        );
        for m in &self.methods {
            let runs: Vec<String> = m.all_seconds.iter().map(|s| format!("{s:.3}")).collect();
            let _ = writeln!(
                out,
                "{:<24} {:>9.3} {:>9.0} {:>10.2}x {:>11}  {}",
                m.method,
                m.best_seconds,
                m.mb_per_s,
                m.ratio_to_dataalm,
                m.peak_rss_kib
                    .map_or("n/a".to_owned(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
                runs.join(" ")
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<10} {:>14} {:>9} {:>8} {:>9} {:>12} {:>12} {:>9}",
            "swap",
            "engine down ms",
            "call ms",
            "queries",
            "failures",
            "longest gap",
            "median gap",
            "old/new"
        );
        for (name, s) in [("cutover", &self.cutover), ("swap back", &self.swap_back)] {
            let _ = writeln!(
                out,
                "{:<10} {:>14} {:>9.2} {:>8} {:>9} {:>9.2} ms {:>9.2} ms {:>4}/{}",
                name,
                s.engine_downtime_ms
                    .map_or("n/a".to_owned(), |ms| format!("{ms:.2}")),
                s.call_ms,
                s.reader.queries,
                s.reader.failures,
                s.reader.longest_gap_ms,
                s.reader.median_gap_ms,
                s.reader.answers_from_old,
                s.reader.answers_from_new
            );
            if let Some(failure) = &s.reader.first_failure {
                let _ = writeln!(out, "  first failure: {failure}");
            }
        }
        if let Some(kib) = self.bench_peak_rss_kib {
            let _ = writeln!(
                out,
                "\nbenchmark process peak RSS (VmHWM, sample generation included): {:.1} MB",
                kib as f64 / 1024.0
            );
        }
        out
    }
}
