//! `de2en models fetch` and `de2en models list`: the command-line face of `crate::models`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{ModelsCommand, Status, UsageError};
use crate::models::{self, FetchOptions, FetchProgress, ModelError};

/// Byte progress bars on stderr, one per file, when stderr is a terminal.
struct Bars {
    show: bool,
    bar: Option<ProgressBar>,
}

impl FetchProgress for Bars {
    fn file_started(&mut self, name: &str, size: Option<u64>) {
        if !self.show {
            return;
        }
        let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:24} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(name.to_owned());
        self.bar = Some(bar);
    }
    fn advanced(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
    fn file_done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

pub fn run(command: ModelsCommand) -> anyhow::Result<Status> {
    match command {
        ModelsCommand::Fetch {
            repo,
            revision,
            force,
            to,
            quiet,
        } => {
            let mut options = FetchOptions::from_env(&repo);
            options.revision = revision;
            options.force = force;
            let mut bars = Bars {
                show: !quiet && std::io::stderr().is_terminal(),
                bar: None,
            };
            let report = models::fetch(&options, &mut bars).map_err(|e| match e {
                ModelError::BadRepoId(_) => anyhow::Error::from(UsageError(e.into())),
                e => e.into(),
            })?;
            let total: u64 = report.files.iter().map(|(_, bytes)| bytes).sum();
            if report.already_cached {
                eprintln!(
                    "de2en: {repo} is already in the cache ({}); use --force to download it again",
                    human_bytes(total)
                );
            } else if !quiet {
                eprintln!(
                    "de2en: fetched {repo} ({} files, {}, commit {})",
                    report.files.len(),
                    human_bytes(total),
                    report.commit
                );
            }
            match to {
                Some(to) => {
                    models::export(&report.dir, &report.files, &to)?;
                    if !quiet {
                        eprintln!("de2en: copied {repo} to {}", to.display());
                    }
                    println!("{}", to.display());
                }
                None => println!("{}", report.dir.display()),
            }
            Ok(Status::Success)
        }
        ModelsCommand::List => {
            let (cache, cached) = models::list_cached()?;
            if cached.is_empty() {
                eprintln!(
                    "de2en: no models in {}; fetch one with `de2en models fetch`",
                    cache.display()
                );
                return Ok(Status::Success);
            }
            for model in cached {
                let refs = if model.refs.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", model.refs.join(", "))
                };
                let state = if model.missing.is_empty() {
                    "ready".to_owned()
                } else {
                    format!("incomplete: no {}", model.missing.join(", "))
                };
                println!(
                    "{}\t{}{}\t{}\t{}\t{}",
                    model.repo,
                    model.commit,
                    refs,
                    human_bytes(model.bytes),
                    state,
                    model.dir.display()
                );
            }
            Ok(Status::Success)
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
