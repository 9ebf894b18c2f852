//! Progress and messages on stderr.
//!
//! Translations go to stdout or files; everything for the human goes to stderr. The bar is drawn
//! only when stderr is a terminal (a log file should not fill up with redraws), and messages are
//! printed through it so they never tear a half-drawn bar. The pipeline reports through
//! `pipeline::Progress`; this is the command line's implementation of it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::Progress;

pub struct Reporter {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Sentences the engine has translated (after de-duplication).
    engine_sentences: u64,
}

impl Reporter {
    pub fn new(total_files: u64, quiet: bool) -> Reporter {
        let show = !quiet && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total_files), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} files  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Reporter {
            bar,
            started: Instant::now(),
            engine_sentences: 0,
        }
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
}

impl Progress for Reporter {
    /// Warnings and per-file errors, under de2en's name like every other message on stderr.
    fn message(&mut self, text: &str) {
        self.line(&format!("de2en: {text}"));
    }

    fn file_done(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn sentences_translated(&mut self, count: u64) {
        self.engine_sentences += count;
        if let Some(bar) = &self.bar {
            let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} sentences, {:.0}/s",
                self.engine_sentences,
                self.engine_sentences as f64 / seconds
            ));
        }
    }
}
