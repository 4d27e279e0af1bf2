//! Progress of long work: bars on a terminal, plain lines otherwise (logs, CI, pipes),
//! nothing when the output is JSON.

use dataalm_core::Step;
use dataalm_core::progress::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

enum Mode {
    Bars(MultiProgress),
    Lines,
    Quiet,
}

pub struct Display {
    mode: Mode,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    step: Option<(ProgressBar, Instant)>,
    copy: Option<ProgressBar>,
    last_line: Option<Instant>,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Display {
    /// Bars when stderr is a terminal, lines otherwise; nothing when `quiet`.
    pub fn new(quiet: bool) -> Display {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Lines
        };
        Display {
            mode,
            state: Mutex::new(State::default()),
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Progress for Display {
    fn step_started(&self, step: Step) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let bar = match &self.mode {
            Mode::Quiet => return,
            Mode::Lines => {
                eprintln!("{step}: started");
                ProgressBar::hidden()
            }
            Mode::Bars(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(style("{spinner:.cyan} {prefix:<14.bold} {msg}"));
                bar.set_prefix(step.name());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            }
        };
        state.step = Some((bar, Instant::now()));
    }

    fn step_done(&self, step: Step, detail: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(copy) = state.copy.take() {
            copy.finish_and_clear();
        }
        let Some((bar, started)) = state.step.take() else {
            return;
        };
        let took = human(started.elapsed());
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => eprintln!("{step}: done in {took}: {detail}"),
            Mode::Bars(_) => {
                bar.set_style(style("✔ {prefix:<14.bold} {msg}"));
                bar.finish_with_message(format!("{detail} ({took})"));
            }
        }
    }

    fn copied(&self, bytes: u64, total: u64, table: Option<&str>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if state.last_line.is_none_or(|t| t.elapsed() > LINE_EVERY) {
                    state.last_line = Some(Instant::now());
                    eprintln!("  copied {bytes} of {total} bytes");
                }
            }
            Mode::Bars(bars) => {
                let bar = state.copy.get_or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new(total));
                    bar.set_style(style(
                        "  {bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                    ));
                    bar
                });
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(bytes);
                if let Some(table) = table {
                    bar.set_message(table.to_owned());
                }
            }
        }
    }

    fn table_rows(&self, table: &str, rows: u64) {
        let Ok(state) = self.state.lock() else {
            return;
        };
        if let Some((bar, _)) = &state.step {
            bar.set_message(format!("{table}: {rows} rows"));
        }
    }
}

pub fn human(d: Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}
