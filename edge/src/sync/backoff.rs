//! Retry delays: exponential with full jitter, capped. A router offline for days retries every
//! few minutes rather than hammering the uplink the moment it returns; many routers coming back
//! at once after an outage spread out instead of arriving together.

use std::time::Duration;

/// First retry waits up to this.
pub const BASE: Duration = Duration::from_secs(2);
/// No wait is longer than this.
pub const CAP: Duration = Duration::from_secs(300);

/// The delay before retry number `attempt` (0 for the first retry), given `unit`, a random number
/// in [0, 1). Full jitter: uniform between zero and the exponential ceiling.
pub fn delay(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_the_cap() {
        assert_eq!(delay(0, 0.999_999).as_millis(), 1999);
        assert_eq!(delay(1, 0.5), Duration::from_secs(2));
        assert_eq!(delay(3, 0.5), Duration::from_secs(8));
        assert_eq!(delay(7, 1.0), Duration::from_secs(256));
        assert_eq!(delay(8, 1.0), CAP, "2 s × 256 is past the cap");
        assert_eq!(delay(u32::MAX, 1.0), CAP, "no overflow");
    }

    #[test]
    fn jitter_spreads_over_the_whole_interval() {
        assert_eq!(delay(5, 0.0), Duration::ZERO);
        assert!(delay(5, 0.25) < delay(5, 0.75));
        assert_eq!(
            delay(5, 7.0),
            delay(5, 1.0),
            "out-of-range randomness is clamped"
        );
    }
}
