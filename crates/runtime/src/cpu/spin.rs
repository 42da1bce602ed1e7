//! Keeps a session's extra worker threads awake while it runs a plan.
//!
//! A plan is a sequence of short steps, most of them one parallel region of a few tens of
//! microseconds. Between regions an idle rayon worker yields a few times and then sleeps, and
//! waking it again takes longer than many regions last (about 20 us on a virtual machine,
//! which is more than the whole second half of a small region). So while a plan runs, each
//! extra worker is parked in a loop that takes the pool's pending work as soon as it appears
//! ([`rayon::yield_now`]) and otherwise spins; the loop ends with the run.

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on the current worker of a rayon pool while up to `threads - 1` other workers
/// of the pool stay awake to steal its parallel work.
pub(crate) fn with_awake_workers<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let helpers = threads.min(rayon::current_num_threads()).saturating_sub(1);
    let Some(me) = rayon::current_thread_index().filter(|_| helpers > 0) else {
        return f();
    };
    let done = AtomicBool::new(false);
    let mut out = None;
    rayon::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| {
                // The calling worker itself may run this job while it waits inside a join; it
                // must not park there (it would wait for itself).
                if rayon::current_thread_index() == Some(me) {
                    return;
                }
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        // Release the helpers even if `f` panics (the scope waits for them before it
        // propagates the panic).
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _release = Release(&done);
        out = Some(f());
    });
    out.expect("the scope ran `f`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn runs_work_and_returns() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let sum = pool.install(|| {
                with_awake_workers(threads, || {
                    (0..50).map(|i| (0..1000u64).into_par_iter().map(|x| x * i).sum::<u64>()).sum::<u64>()
                })
            });
            assert_eq!(sum, (0..50u64).sum::<u64>() * (0..1000u64).sum::<u64>());
        }
        // Outside a pool: just runs.
        assert_eq!(with_awake_workers(4, || 7), 7);
    }

    #[test]
    fn releases_helpers_on_panic() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_awake_workers(2, || panic!("boom")))
        }));
        assert!(r.is_err());
        // The pool still works.
        assert_eq!(pool.install(|| with_awake_workers(2, || (0..10).into_par_iter().sum::<i32>())), 45);
    }
}
