//! Fault points in production code that fire only inside the simulator (FoundationDB's
//! BUGGIFY). In a normal build every function here returns "no fault" and compiles to nothing;
//! under `--cfg madsim` the decision comes from the seeded simulation RNG, so a seed chooses
//! which fault points fire and a failure replays exactly.
//!
//! Architecture invariant: this is the only crate of the production tree that names madsim.

/// True with 25% probability when the simulator has enabled buggify; always false otherwise.
#[inline]
pub fn buggify() -> bool {
    #[cfg(madsim)]
    {
        madsim::buggify::buggify()
    }
    #[cfg(not(madsim))]
    {
        false
    }
}

/// True with probability `probability` (0.0..=1.0) when the simulator has enabled buggify.
#[inline]
pub fn buggify_with_prob(probability: f64) -> bool {
    debug_assert!((0.0..=1.0).contains(&probability), "probability out of range: {probability}");
    #[cfg(madsim)]
    {
        madsim::buggify::buggify_with_prob(probability)
    }
    #[cfg(not(madsim))]
    {
        let _ = probability;
        false
    }
}

/// Whether this build runs inside the simulator (for start-up logs only; never for behaviour).
pub const IN_SIMULATION: bool = cfg!(madsim);
