//! nsbg-core: the part of nsbg that runs everywhere (`#![no_std]`).
//!
//! * [`wavelet`]: the exact biorthogonal 2.2 (CDF 5/3) 2-D transform of `shared/spec/wavelet.md`,
//!   in place, packed Mallat layout, three float extension modes plus the reversible integer 5/3.
//! * [`tiling`]: the wavelet-packet split of a square block into 32×32 patches (`design.md` §Tiling).
//!
//! Nothing on the transform or tiling path allocates: scratch space comes from the caller.
#![no_std]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod decoder;
pub mod error;
#[cfg(feature = "alloc")]
pub mod nn;
pub mod tiling;
pub mod wavelet;
#[cfg(feature = "alloc")]
pub mod weights;

pub use error::Error;
