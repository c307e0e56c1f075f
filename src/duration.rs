//! Durations as a sysadmin writes them: `500ms`, `2s`, `5m`, `1h`.

use std::fmt;
use std::str::FromStr;

/// A span of time given on the command line or in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn std(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        // Messages show the text escaped: a value from a configuration file
        // may hold a newline or a control character.
        let shown = raw.escape_debug().to_string();
        let s = shown.as_str();
        let text = raw.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("'{s}' has no unit; write e.g. 500ms, 2s, 5m or 1h"))?;
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "'{s}' does not start with a number; write e.g. 500ms, 2s, 5m or 1h"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("'{s}' is too large a number"))?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => {
                return Err(format!(
                    "'{s}' has unknown unit '{}'; use ms, s, m or h",
                    unit.escape_debug()
                ));
            }
        };
        let millis = n
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("'{s}' is too long a duration"))?;
        Ok(Duration(std::time::Duration::from_millis(millis)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            write!(f, "0s")
        } else if ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1_000 == 0 {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        s.parse::<Duration>().unwrap().0.as_millis()
    }

    #[test]
    fn accepts_each_unit() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("2s"), 2_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("0s"), 0);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        for bad in [
            "",
            "5",
            "s",
            "1.5s",
            "-1s",
            "3d",
            "2 s x",
            "99999999999999999999s",
        ] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["500ms", "2s", "5m", "1h", "1500ms", "90s"] {
            let d: Duration = s.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }
}
