//! Progress and messages on stderr.
//!
//! Translations go to stdout or files; everything for the human goes to stderr. The bar is drawn
//! only when stderr is a terminal (a log file should not fill up with redraws), and messages are
//! printed through it so they never tear a half-drawn bar. The pipeline reports through
//! `pipeline::Progress`; this is the command line's implementation of it.
//!
//! The bar measures work in bytes of the planned input files, not in files: a tree of a few long
//! articles takes most of its time inside one window, where no file is finished yet, while the
//! pipeline reports each file's share as its sentences come back. Files that turn out up to date
//! (or fail) leave the total instead of counting as done, so they do not inflate the rate. The
//! time left is the remaining bytes at the average rate so far, and it is not shown before any
//! work is done: there is no rate to estimate from, and "0s" would be a lie.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::pipeline::Progress;

pub struct Reporter {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Sentences the engine has translated (after de-duplication).
    engine_sentences: u64,
    files_done: u64,
    total_files: u64,
    /// Planned input bytes still to be translated in this run, and those done.
    total_bytes: u64,
    done_bytes: u64,
}

impl Reporter {
    pub fn new(total_files: u64, total_bytes: u64, quiet: bool) -> Reporter {
        let show = !quiet && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}%  {msg}{left}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            // Recomputed on every tick, so it counts down between the pipeline's reports.
            .with_key(
                "left",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let total = state.len().unwrap_or(0);
                    if let Some(left) = time_left(state.pos(), total, state.elapsed()) {
                        let _ = write!(out, "  ETA {}", short_duration(left));
                    }
                },
            );
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let reporter = Reporter {
            bar,
            started: Instant::now(),
            engine_sentences: 0,
            files_done: 0,
            total_files,
            total_bytes,
            done_bytes: 0,
        };
        reporter.redraw();
        reporter
    }

    /// A line for the user, as it is.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn redraw(&self) {
        let Some(bar) = &self.bar else {
            return;
        };
        let elapsed = self.started.elapsed();
        let mut message = format!("{}/{} files", self.files_done, self.total_files);
        if self.engine_sentences > 0 {
            let rate = self.engine_sentences as f64 / elapsed.as_secs_f64().max(1e-3);
            message.push_str(&format!(
                "  {} sentences, {rate:.0}/s",
                self.engine_sentences
            ));
        }
        bar.set_length(self.total_bytes.max(1));
        bar.set_position(self.done_bytes.min(self.total_bytes));
        bar.set_message(message);
    }
}

/// The time left at the average rate so far; `None` while nothing is done (no rate yet).
pub fn time_left(done: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if done == 0 || elapsed.is_zero() {
        return None;
    }
    let rate = done as f64 / elapsed.as_secs_f64();
    Some(Duration::from_secs_f64(
        total.saturating_sub(done) as f64 / rate,
    ))
}

/// `45s`, `3m 07s`, `2h 05m`.
pub fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64().round() as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

impl Progress for Reporter {
    /// Warnings and per-file errors, under de2en's name like every other message on stderr.
    fn message(&mut self, text: &str) {
        self.line(&format!("de2en: {text}"));
    }

    fn file_done(&mut self) {
        self.files_done += 1;
        self.redraw();
    }

    fn sentences_translated(&mut self, count: u64) {
        self.engine_sentences += count;
        self.redraw();
    }

    fn work_done(&mut self, source_bytes: u64) {
        self.done_bytes += source_bytes;
        self.redraw();
    }

    fn work_dropped(&mut self, source_bytes: u64) {
        self.total_bytes = self.total_bytes.saturating_sub(source_bytes);
        self.redraw();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_estimate_before_any_work_is_done() {
        assert_eq!(time_left(0, 1000, Duration::from_secs(30)), None);
        // A quarter done in 10 s: 30 s to go.
        assert_eq!(
            time_left(250, 1000, Duration::from_secs(10)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            time_left(1000, 1000, Duration::from_secs(10)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short_duration(Duration::from_secs(45)), "45s");
        assert_eq!(short_duration(Duration::from_secs(187)), "3m 07s");
        assert_eq!(short_duration(Duration::from_secs(7500)), "2h 05m");
    }
}
