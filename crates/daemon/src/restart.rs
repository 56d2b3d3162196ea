//! Restart policies (moby `restartmanager`): whether an exited container
//! is started again, and after how long.

use std::time::Duration;

use berth_api_types::container::{RestartPolicy, RestartPolicyMode};

use crate::error::{Error, Result};

/// The first back-off, doubled at each restart up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A container that ran this long starts again from the first back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether a container that exited with `exit_code` is restarted.
/// `restart_count` counts the restarts since the last start by a user.
pub(crate) fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    manually_stopped: bool,
    restart_count: u64,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            exit_code != 0 && (max <= 0 || restart_count < max as u64)
        }
        _ => false,
    }
}

/// The wait before the next restart, given the previous one (`ZERO` for
/// none yet) and how long the container ran.
pub(crate) fn next_backoff(prev: Duration, ran_for: Duration) -> Duration {
    let prev = if ran_for >= RESET_AFTER {
        Duration::ZERO
    } else {
        prev
    };
    if prev.is_zero() {
        FIRST_BACKOFF
    } else {
        (prev * 2).min(MAX_BACKOFF)
    }
}

/// moby's ValidateRestartPolicy, with its messages.
pub(crate) fn validate(policy: &RestartPolicy) -> Result<()> {
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                let name = if policy.name.is_empty() {
                    "no"
                } else {
                    policy.name.as_str()
                };
                return Err(Error::invalid(format!(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be used with '{name}'"
                )));
            }
            Ok(())
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
            Ok(())
        }
        other => Err(Error::invalid(format!(
            "invalid restart policy: unknown policy '{other}'; use one of '{}', '{}', '{}', or '{}'",
            RestartPolicyMode::DISABLED,
            RestartPolicyMode::ALWAYS,
            RestartPolicyMode::ON_FAILURE,
            RestartPolicyMode::UNLESS_STOPPED
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: RestartPolicyMode::new(name),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&p("", 0), 1, false, 0));
        assert!(!should_restart(&p("no", 0), 1, false, 0));
        assert!(should_restart(&p("always", 0), 0, false, 100));
        assert!(!should_restart(&p("always", 0), 0, true, 0));
        assert!(should_restart(&p("unless-stopped", 0), 0, false, 0));
        assert!(!should_restart(&p("unless-stopped", 0), 0, true, 0));
        assert!(!should_restart(&p("on-failure", 0), 0, false, 0));
        assert!(should_restart(&p("on-failure", 0), 1, false, 1000));
        assert!(should_restart(&p("on-failure", 3), 1, false, 2));
        assert!(!should_restart(&p("on-failure", 3), 1, false, 3));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let z = Duration::ZERO;
        let short = Duration::from_secs(1);
        assert_eq!(next_backoff(z, short), Duration::from_millis(100));
        assert_eq!(
            next_backoff(Duration::from_millis(100), short),
            Duration::from_millis(200)
        );
        assert_eq!(next_backoff(Duration::from_secs(50), short), MAX_BACKOFF);
        assert_eq!(
            next_backoff(Duration::from_secs(50), Duration::from_secs(11)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn validation() {
        assert!(validate(&p("on-failure", 3)).is_ok());
        assert!(validate(&p("always", 0)).is_ok());
        let e = validate(&p("always", 2)).unwrap_err();
        assert!(e.message.contains("cannot be used with 'always'"));
        assert!(validate(&p("on-failure", -1)).is_err());
        assert!(validate(&p("sometimes", 0)).is_err());
    }
}
