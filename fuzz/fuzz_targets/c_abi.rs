//! The C ABI with fuzzer-chosen (often invalid) arguments: whatever the arguments, a call returns a
//! status, never crashes, returns OK exactly when the geometry is valid, and leaves the buffer
//! untouched on error. Buffers are always as large as the call may legally touch, or the call is
//! one that must be rejected before touching memory (huge sizes, NULL).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nsbg::*;
use nsbg_core::wavelet::{check_geometry, Extension};

#[derive(Arbitrary, Debug)]
struct Call {
    func: u8,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
    null: bool,
    small: bool,
    fill: u8,
}

const CAP: usize = 1 << 16;

fuzz_target!(|c: Call| {
    // Keep small sizes small more often so valid calls happen.
    let (w, h, stride) = if c.small {
        (c.width % 80, c.height % 80, c.width % 80 + c.stride % 4)
    } else {
        (c.width, c.height, c.stride)
    };
    let is_int = c.func % 7 >= 4;
    let mode = if is_int { None } else { Extension::from_code(c.ext).ok() };
    let geometry = check_geometry(w, h, stride, c.levels, mode);
    let valid = geometry.is_ok() && (is_int || mode.is_some());
    let span = geometry.unwrap_or(0);
    if valid && span > CAP {
        return; // a legal call on a buffer we do not want to allocate
    }
    let len = if valid { span } else { 64 };
    let v = f64::from(c.fill) - 100.0;
    let status = match c.func % 7 {
        0 | 1 => {
            let mut buf = vec![v as f32; len];
            let orig = buf.clone();
            let ptr = if c.null { core::ptr::null_mut() } else { buf.as_mut_ptr() };
            let s = unsafe {
                if c.func % 7 == 0 {
                    nsbg_dwt2_f32(ptr, w, h, stride, c.levels, c.ext)
                } else {
                    nsbg_idwt2_f32(ptr, w, h, stride, c.levels, c.ext)
                }
            };
            if s != nsbg_status::NSBG_OK {
                assert_eq!(buf, orig);
            }
            s
        }
        2 | 3 => {
            let mut buf = vec![v; len];
            let orig = buf.clone();
            let ptr = if c.null { core::ptr::null_mut() } else { buf.as_mut_ptr() };
            let s = unsafe {
                if c.func % 7 == 2 {
                    nsbg_dwt2_f64(ptr, w, h, stride, c.levels, c.ext)
                } else {
                    nsbg_idwt2_f64(ptr, w, h, stride, c.levels, c.ext)
                }
            };
            if s != nsbg_status::NSBG_OK {
                assert_eq!(buf, orig);
            }
            s
        }
        4 | 5 => {
            let mut buf = vec![v as i32; len];
            let orig = buf.clone();
            let ptr = if c.null { core::ptr::null_mut() } else { buf.as_mut_ptr() };
            let s = unsafe {
                if c.func % 7 == 4 {
                    nsbg_dwt2_i32(ptr, w, h, stride, c.levels)
                } else {
                    nsbg_idwt2_i32(ptr, w, h, stride, c.levels)
                }
            };
            if s != nsbg_status::NSBG_OK {
                assert_eq!(buf, orig);
            }
            s
        }
        _ => {
            // Tiling: side/channels from the width/height fields, patches_len from stride.
            let side = if c.small { 32usize << (w % 3) } else { w };
            let ch = if c.small { h % 4 } else { h };
            let n = side.checked_mul(side).and_then(|a| a.checked_mul(ch));
            let ok_geom = nsbg_core::tiling::block_len(side, ch).is_ok() && Extension::from_code(c.ext).is_ok();
            let Some(n) = n.filter(|&n| n <= CAP) else {
                let mut small = vec![0.0f32; 64];
                let mut out = vec![1.0f32; 64];
                let s = unsafe { nsbg_tile_f32(small.as_mut_ptr(), side, ch, c.ext, out.as_mut_ptr(), 64) };
                assert_ne!(s, nsbg_status::NSBG_OK);
                assert!(out.iter().all(|&x| x == 1.0));
                return;
            };
            let plen = if c.stride % 3 == 0 { n } else { n.wrapping_add(c.stride % 5).wrapping_sub(2) };
            let block = vec![v as f32; n.max(1)];
            let mut out = vec![1.0f32; plen.min(CAP + 8).max(1)];
            let out_len = plen.min(out.len());
            let s = unsafe { nsbg_tile_f32(block.as_ptr(), side, ch, c.ext, out.as_mut_ptr(), out_len) };
            let expect_ok = ok_geom && out_len == n && !c.null;
            if !c.null {
                assert_eq!(s == nsbg_status::NSBG_OK, expect_ok, "tile side {side} ch {ch} len {out_len}: {s:?}");
            }
            if s != nsbg_status::NSBG_OK {
                assert!(out.iter().all(|&x| x == 1.0));
            }
            return;
        }
    };
    if c.null {
        assert_eq!(status, nsbg_status::NSBG_ERR_NULL_POINTER);
    } else {
        assert_eq!(status == nsbg_status::NSBG_OK, valid, "{w}x{h} stride {stride} L{} ext {}: {status:?}", c.levels, c.ext);
        if !valid {
            assert_ne!(status, nsbg_status::NSBG_ERR_INTERNAL);
        }
    }
});
