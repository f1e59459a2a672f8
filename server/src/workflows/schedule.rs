//! Cron schedules of automations: five fields (minute hour day-of-month month day-of-week; an optional sixth
//! leading seconds field is accepted too), the `@yearly`/`@annually`/`@monthly`/`@weekly`/`@daily`/
//! `@midnight`/`@hourly` aliases, and an optional `CRON_TZ=<IANA zone>` prefix (UTC otherwise).
//!
//! Catch-up rule: a trigger stores its next scheduled time. When the server finds that time passed (always,
//! and after downtime for possibly many times), it fires once, for the latest scheduled time that has
//! passed, and moves the trigger to the first scheduled time after now: missed runs are not replayed.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// Parses a schedule or says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (zone, pattern) = match text.strip_prefix("CRON_TZ=") {
            Some(rest) => {
                let (zone, pattern) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                    "CRON_TZ= must be followed by a zone and a schedule".to_owned()
                })?;
                let zone: Tz = zone
                    .parse()
                    .map_err(|_| format!("unknown time zone {zone:?}"))?;
                (zone, pattern.trim())
            }
            None => (Tz::UTC, text),
        };
        if pattern.is_empty() {
            return Err("the schedule is empty".into());
        }
        let fields = pattern.split_whitespace().count();
        if !pattern.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!("expected 5 fields, found {fields}"));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| e.to_string())?;
        let schedule = Schedule { cron, zone };
        // A pattern that never matches (February 30th) is refused here rather than never firing.
        schedule
            .next_after(Utc::now().timestamp_micros())
            .ok_or_else(|| "the schedule never fires".to_owned())?;
        Ok(schedule)
    }

    fn at(&self, us: i64) -> DateTime<Tz> {
        self.zone.from_utc_datetime(
            &DateTime::<Utc>::from_timestamp_micros(us)
                .unwrap_or_default()
                .naive_utc(),
        )
    }

    /// The first scheduled time strictly after `us` (µs since the epoch).
    pub(crate) fn next_after(&self, us: i64) -> Option<i64> {
        self.cron
            .find_next_occurrence(&self.at(us), false)
            .ok()
            .map(|t| t.timestamp_micros())
    }

    /// The latest scheduled time at or before `us`.
    pub(crate) fn latest_until(&self, us: i64) -> Option<i64> {
        self.cron
            .find_previous_occurrence(&self.at(us), true)
            .ok()
            .map(|t| t.timestamp_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .timestamp_micros()
    }

    #[test]
    fn five_fields_aliases_and_zones() {
        let s = Schedule::parse("30 9 * * *").expect("a valid schedule");
        assert_eq!(
            s.next_after(us("2024-03-01T10:00:00Z")),
            Some(us("2024-03-02T09:30:00Z"))
        );
        let s = Schedule::parse("@daily").expect("a valid schedule");
        assert_eq!(
            s.latest_until(us("2024-03-01T10:00:00Z")),
            Some(us("2024-03-01T00:00:00Z"))
        );
        let s = Schedule::parse("CRON_TZ=Europe/Berlin 0 9 * * *").expect("a valid schedule");
        assert_eq!(
            s.next_after(us("2024-03-01T00:00:00Z")),
            Some(us("2024-03-01T08:00:00Z"))
        );
        let s = Schedule::parse("*/2 * * * * *").expect("a valid schedule");
        assert_eq!(
            s.next_after(us("2024-03-01T00:00:01Z")),
            Some(us("2024-03-01T00:00:02Z"))
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        for bad in [
            "",
            "* * *",
            "61 * * * *",
            "CRON_TZ=Mars/Base 0 9 * * *",
            "CRON_TZ=UTC",
            "0 0 30 2 *",
            "@sometimes",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
