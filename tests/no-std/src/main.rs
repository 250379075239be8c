//! Proof that nsbg-core's transform and tiling link without std and without an allocator:
//! built by scripts/test.sh with `cargo build --target thumbv7em-none-eabihf`.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use nsbg_core::{tiling, wavelet};

const W: usize = 16;
const H: usize = 12;

#[no_mangle]
pub extern "C" fn nsbg_no_std_entry() -> i32 {
    let mut plane = [0.0f32; W * H];
    for (i, v) in plane.iter_mut().enumerate() {
        *v = (i % 7) as f32;
    }
    let mut scratch = [0.0f32; 512];
    let ok_f = wavelet::dwt2(&mut plane, W, H, W, 2, wavelet::Extension::Symmetric, &mut scratch).is_ok()
        && wavelet::idwt2(&mut plane, W, H, W, 2, wavelet::Extension::Symmetric, &mut scratch).is_ok();
    let mut ints = [3i32; W * H];
    let mut iscratch = [0i32; 512];
    let ok_i = wavelet::dwt2_i32(&mut ints, W, H, W, 2, &mut iscratch).is_ok()
        && wavelet::idwt2_i32(&mut ints, W, H, W, 2, &mut iscratch).is_ok();
    let ok_t = tiling::patch_count(64).is_ok();
    i32::from(ok_f) + i32::from(ok_i) + i32::from(ok_t)
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
