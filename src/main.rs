//! The `de2en` binary: parse the arguments, run, turn the outcome into an exit code. Everything
//! else lives in the library (`de2en::cli` and below), so every stage is testable on its own.

use clap::Parser;

fn main() -> std::process::ExitCode {
    keep_elementwise_ops_on_the_caller();
    reuse_large_buffers();
    let cli = de2en::cli::Cli::parse();
    match de2en::cli::run(cli) {
        Ok(status) => status.into(),
        // A closed stdout (`de2en … | head`) is success; see `report_error`.
        Err(error) => de2en::cli::report_error(&error),
    }
}

/// Makes candle run element-wise ops (bias adds, activations, the logits) on the calling thread.
///
/// candle 0.11 spreads element-wise ops over ≥ 64K elements on its own "barrier pool", whose
/// workers spin after each op while gemm's rayon threads need the same cores: on 2 cores that
/// spinning took 16 % of a beam-4 batch-32 run, and `CANDLE_NUM_THREADS=1` (no pool workers; gemm
/// still uses every core through rayon) made it 1.6× faster. A value the user set is left alone.
fn keep_elementwise_ops_on_the_caller() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the first statement of `main`, before any thread exists that could read the
        // environment; candle reads the variable only when its pool is first created.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Makes glibc's malloc reuse freed large buffers instead of returning them to the kernel.
///
/// Every decoder step allocates buffers of tens of megabytes (the logits of 128 beam rows over a
/// 58 101-word vocabulary are 30 MB). By default glibc serves such sizes with fresh `mmap`s, or
/// trims them off the heap when freed, so every step faulted its pages in again, zeroed by the
/// kernel: 844 000 page faults and 2.9 s of system time in a 7 s int8 run. Kept in the heap they
/// are reused, and that run took 5.3 s. Peak memory is unchanged; what was freed stays mapped
/// until the process ends (a translation run, not a daemon).
fn reuse_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const LARGE: libc::c_int = 1 << 30;
        // SAFETY: plain configuration calls, made before any allocation-heavy work starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE);
            libc::mallopt(libc::M_TRIM_THRESHOLD, LARGE);
        }
    }
}
