//! Turning C (pointer, length) pairs into Rust slices, with every check the C caller can get wrong
//! reported as a status instead of undefined behaviour: NULL, misalignment, byte sizes beyond
//! `isize::MAX`, overlapping input/output, and allocation failure for scratch space.

use crate::status::nsbg_status;

fn check_ptr<T>(ptr: *const T, len: usize) -> Result<(), nsbg_status> {
    if ptr.is_null() {
        return Err(nsbg_status::NSBG_ERR_NULL_POINTER);
    }
    if !ptr.is_aligned() {
        return Err(nsbg_status::NSBG_ERR_INVALID_ARGUMENT);
    }
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(nsbg_status::NSBG_ERR_INVALID_ARGUMENT),
    }
}

/// # Safety
/// `ptr` must be valid for reads of `len` elements for `'a`, and not written through elsewhere meanwhile.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], nsbg_status> {
    check_ptr(ptr, len)?;
    // SAFETY: non-null, aligned, byte size ≤ isize::MAX (checked above); validity for `len`
    // elements is the caller's contract, stated in the header.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// `ptr` must be valid for reads and writes of `len` elements for `'a`, and not aliased meanwhile.
pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], nsbg_status> {
    check_ptr(ptr, len)?;
    // SAFETY: as in `slice`, plus exclusivity, which is the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// Rejects an output range that overlaps an input range (both element counts of `T`), since a
/// shared and a mutable slice over the same bytes would be undefined behaviour.
pub(crate) fn disjoint<T>(
    a: *const T,
    a_len: usize,
    b: *const T,
    b_len: usize,
) -> Result<(), nsbg_status> {
    let (a0, b0) = (a as usize, b as usize);
    let a1 = a0.saturating_add(a_len.saturating_mul(size_of::<T>()));
    let b1 = b0.saturating_add(b_len.saturating_mul(size_of::<T>()));
    if a0 < b1 && b0 < a1 {
        Err(nsbg_status::NSBG_ERR_INVALID_ARGUMENT)
    } else {
        Ok(())
    }
}

/// A zero-filled scratch vector; allocation failure is `NSBG_ERR_OUT_OF_MEMORY`, not an abort.
pub(crate) fn scratch<T: Copy + Default>(len: Option<usize>) -> Result<Vec<T>, nsbg_status> {
    let len = len.ok_or(nsbg_status::NSBG_ERR_INVALID_ARGUMENT)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)?;
    v.resize(len, T::default());
    Ok(v)
}
