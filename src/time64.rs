//! Local time of a Unix time with 64-bit seconds on every CPU.
//!
//! 32-bit glibc (armv7) binds `localtime_r` to its 32-bit `time_t` ABI, which wraps after
//! 2038-01-19; the libc crate's 64-bit-time mode cannot be used (the `filetime` crate that
//! `tar` needs does not compile under it). glibc 2.34 and later export `__localtime64_r`,
//! the entry point `_TIME_BITS=64` programs call, so on 32-bit ARM we call that. `struct tm`
//! has no `time_t` field, so its layout is the same in both ABIs. `clippy.toml` forbids
//! `libc::localtime_r`, so a slip fails `cargo clippy`.

/// `localtime_r` of `secs`: the broken-down local time, or None when libc cannot convert it.
pub fn localtime(secs: i64) -> Option<libc::tm> {
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (tm_zone null).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    #[cfg(all(target_arch = "arm", target_env = "gnu"))]
    let converted = {
        extern "C" {
            fn __localtime64_r(t: *const i64, tm: *mut libc::tm) -> *mut libc::tm;
        }
        // SAFETY: both pointers are to live locals; the call writes only into `tm` and
        // returns null on failure, which is checked.
        unsafe { !__localtime64_r(&secs, &mut tm).is_null() }
    };
    #[cfg(not(all(target_arch = "arm", target_env = "gnu")))]
    let converted = {
        // 64-bit on the CPUs we build for; a 32-bit one (i686) cannot say such a time.
        #[allow(clippy::useless_conversion)]
        let t: libc::time_t = match secs.try_into() {
            Ok(t) => t,
            Err(_) => return None,
        };
        // SAFETY: both pointers are to live locals; localtime_r writes only into `tm` and
        // returns null on failure, which is checked.
        #[allow(clippy::disallowed_methods)]
        let r = unsafe { libc::localtime_r(&t, &mut tm) };
        !r.is_null()
    };
    converted.then_some(tm)
}

/// The zone's offset east of UTC in seconds (`tm_gmtoff`, a C long: 32-bit on armv7).
#[allow(clippy::unnecessary_cast)]
pub fn gmtoff(tm: &libc::tm) -> i64 {
    tm.tm_gmtoff as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_after_2038_convert() {
        // 2040-01-01T00:00:00Z and 2106-02-07T06:28:16Z (past u32 too); the zone may shift
        // the hour, not the year.
        for (secs, year) in [(2_208_988_800i64, 2039..=2040), (4_294_967_296, 2106..=2106)] {
            let tm = super::localtime(secs).expect("converts");
            assert!(year.contains(&(tm.tm_year as i64 + 1900)), "{}", tm.tm_year);
        }
    }
}
