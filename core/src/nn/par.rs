//! Splitting work over threads (`std` only; without `std` everything runs on the calling thread).

/// Runs `f(first_unit, end_unit, data_piece, scratch_piece)` over `units` work units, on up to
/// `threads` threads under `std`.
///
/// Range `[u0, u1)` gets `data[u0·unit .. min(u1·unit, data.len())]`; each thread has its own
/// `scratch_len` elements of `scratch` (which must hold `threads · scratch_len`). With more than one
/// thread the units are handed out dynamically in chunks of about a quarter of a thread's share, so a
/// thread that the OS deschedules does not hold the others up. The calling thread takes part.
pub(crate) fn split<F>(
    threads: usize,
    units: usize,
    unit: usize,
    data: &mut [f32],
    scratch: &mut [f32],
    scratch_len: usize,
    f: F,
) where
    F: Fn(usize, usize, &mut [f32], &mut [f32]) + Sync,
{
    let n = threads.clamp(1, units.max(1));
    #[cfg(feature = "std")]
    if n > 1 {
        use std::sync::Mutex;
        let chunk = units.div_ceil(4 * n).max(1);
        // (next unit, data not handed out yet)
        let queue = Mutex::new((0usize, data));
        let work = |sp: &mut [f32]| loop {
            let (u0, u1, piece) = {
                let mut g = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (next, rest) = &mut *g;
                if *next >= units {
                    break;
                }
                let (u0, u1) = (*next, (*next + chunk).min(units));
                let take = ((u1 - u0) * unit).min(rest.len());
                let (piece, r) = core::mem::take(rest).split_at_mut(take);
                *rest = r;
                *next = u1;
                (u0, u1, piece)
            };
            f(u0, u1, piece, sp);
        };
        std::thread::scope(|s| {
            let mut srest = scratch;
            for i in 0..n {
                let (sp, sr) = core::mem::take(&mut srest).split_at_mut(scratch_len);
                srest = sr;
                let work = &work;
                if i + 1 == n {
                    work(sp);
                } else {
                    s.spawn(move || work(sp));
                }
            }
        });
        return;
    }
    let _ = n;
    let len = (units * unit).min(data.len());
    f(0, units, &mut data[..len], &mut scratch[..scratch_len]);
}

/// Threads actually usable: 1 without `std`.
pub(crate) fn effective(threads: usize) -> usize {
    if cfg!(feature = "std") {
        threads.max(1)
    } else {
        1
    }
}

/// Number of hardware threads (1 without `std` or when unknown).
pub fn available_threads() -> usize {
    #[cfg(feature = "std")]
    {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
    #[cfg(not(feature = "std"))]
    {
        1
    }
}
