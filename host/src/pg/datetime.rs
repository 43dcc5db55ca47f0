//! Dates and timestamps as PostgreSQL writes them, over all of DuckDB's range: `infinity`
//! and `-infinity`, BC years, years past 9999. (chrono stops at ±262,143 years and panics on
//! overflow; DuckDB's dates reach ±5.8 million years, and its infinities are the extreme
//! values of each type.)

use bytes::{BufMut, BytesMut};

/// A DuckDB date or timestamp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Moment {
    NegInfinity,
    /// Days since 1970-01-01 and microseconds into that day (UTC for TIMESTAMPTZ); dates
    /// reach further than microseconds in an i64 do.
    At {
        days: i64,
        us: i64,
    },
    Infinity,
}

const DAY_US: i64 = 86_400_000_000;
/// PostgreSQL's binary forms count from 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

impl Moment {
    /// A DuckDB DATE (days since 1970).
    pub fn date(days: i32) -> Self {
        match days {
            i32::MAX => Self::Infinity,
            d if d == -i32::MAX => Self::NegInfinity,
            d => Self::At { days: i64::from(d), us: 0 },
        }
    }

    fn micros(us: i64) -> Self {
        Self::At { days: us.div_euclid(DAY_US), us: us.rem_euclid(DAY_US) }
    }

    /// A DuckDB timestamp of `units_per_second` (1 for TIMESTAMP_S … 10⁹ for TIMESTAMP_NS).
    pub fn timestamp(value: i64, units_per_second: i64) -> Self {
        match value {
            i64::MAX => Self::Infinity,
            v if v == -i64::MAX => Self::NegInfinity,
            v if units_per_second >= 1_000_000 => Self::micros(v.div_euclid(units_per_second / 1_000_000)),
            v => Self::micros(v.saturating_mul(1_000_000 / units_per_second)),
        }
    }

    /// PostgreSQL's binary DATE: days since 2000, its infinities the extreme i32s.
    pub fn binary_date(self) -> i32 {
        match self {
            Self::NegInfinity => i32::MIN,
            Self::Infinity => i32::MAX,
            Self::At { days, .. } => {
                (days - PG_EPOCH_DAYS).clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX) - 1) as i32
            }
        }
    }

    /// PostgreSQL's binary TIMESTAMP(TZ): microseconds since 2000, its infinities the extreme i64s.
    pub fn binary_timestamp(self) -> i64 {
        match self {
            Self::NegInfinity => i64::MIN,
            Self::Infinity => i64::MAX,
            Self::At { days, us } => {
                (days - PG_EPOCH_DAYS).saturating_mul(DAY_US).saturating_add(us).clamp(i64::MIN + 1, i64::MAX - 1)
            }
        }
    }

    /// From PostgreSQL's binary DATE.
    pub fn from_binary_date(days: i32) -> Self {
        match days {
            i32::MIN => Self::NegInfinity,
            i32::MAX => Self::Infinity,
            d => Self::At { days: i64::from(d) + PG_EPOCH_DAYS, us: 0 },
        }
    }

    /// From PostgreSQL's binary TIMESTAMP(TZ).
    pub fn from_binary_timestamp(us: i64) -> Self {
        match us {
            i64::MIN => Self::NegInfinity,
            i64::MAX => Self::Infinity,
            us => Self::At { days: us.div_euclid(DAY_US) + PG_EPOCH_DAYS, us: us.rem_euclid(DAY_US) },
        }
    }

    /// The text PostgreSQL writes: `2024-03-05`, `0044-03-15 BC`, `infinity`; with `clock`
    /// the time of day too, and `+00` after it when `utc`.
    pub fn write_text(self, buf: &mut BytesMut, clock: bool, utc: bool) {
        self.write(buf, clock, utc, " BC");
    }

    /// The text DuckDB reads back (it marks BC years ` (BC)`).
    pub fn duckdb_text(self, clock: bool, utc: bool) -> String {
        let mut buf = BytesMut::new();
        self.write(&mut buf, clock, utc, " (BC)");
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn write(self, buf: &mut BytesMut, clock: bool, utc: bool, bc: &str) {
        let (days, us) = match self {
            Self::NegInfinity => return buf.put_slice(b"-infinity"),
            Self::Infinity => return buf.put_slice(b"infinity"),
            Self::At { days, us } => (days, us),
        };
        let (year, month, day) = civil(days);
        // Year 0 is 1 BC, as PostgreSQL counts.
        let (year, before_christ) = if year <= 0 { (1 - year, true) } else { (year, false) };
        write_number(buf, year as u64, 4);
        buf.put_u8(b'-');
        write_number(buf, u64::from(month), 2);
        buf.put_u8(b'-');
        write_number(buf, u64::from(day), 2);
        if clock {
            buf.put_u8(b' ');
            write_time(buf, us);
            if utc {
                buf.put_slice(b"+00");
            }
        }
        if before_christ {
            buf.put_slice(bc.as_bytes());
        }
    }
}

/// A session's time zone (SET TimeZone): where timestamps with a time zone are shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    /// The zone PostgreSQL's `SET TimeZone` value names; `None` for UTC itself (the default,
    /// written as `+00`), `Err` for a name PostgreSQL would refuse.
    pub fn parse(value: &str) -> Result<Option<Zone>, ()> {
        let name = value.trim();
        if ["utc", "default", "local", "z", "etc/utc", "gmt", "zulu"].contains(&name.to_ascii_lowercase().as_str()) {
            return Ok(None);
        }
        chrono_tz::Tz::from_str_insensitive(name).map(|tz| Some(Zone(tz))).map_err(|_| ())
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The zone's offset from UTC at `utc_us` (microseconds since 1970), in seconds.
    fn offset_at(self, utc_us: i64) -> Option<i32> {
        use chrono::{Offset, TimeZone};
        let at = chrono::DateTime::from_timestamp_micros(utc_us)?;
        Some(self.0.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc())
    }
}

impl Moment {
    /// Writes a timestamp with a time zone as PostgreSQL shows it in `zone`: the wall clock
    /// there and its offset (`+02`, `+05:30`, `-03:30`). Outside the years the zone database
    /// covers (and for the infinities) it is written in UTC.
    pub fn write_in_zone(self, buf: &mut BytesMut, zone: Option<Zone>) {
        let (Some(zone), Self::At { days, us }) = (zone, self) else { return self.write_text(buf, true, true) };
        let Some(utc_us) = days.checked_mul(DAY_US).and_then(|d| d.checked_add(us)) else {
            return self.write_text(buf, true, true);
        };
        let Some(offset) = zone.offset_at(utc_us) else { return self.write_text(buf, true, true) };
        let local = Self::micros(utc_us + i64::from(offset) * 1_000_000);
        local.write_text(buf, true, false);
        buf.put_u8(if offset < 0 { b'-' } else { b'+' });
        let minutes = offset.unsigned_abs() / 60;
        write_number(buf, u64::from(minutes / 60), 2);
        if minutes % 60 != 0 {
            buf.put_u8(b':');
            write_number(buf, u64::from(minutes % 60), 2);
        }
    }
}

/// A time of day (`us` microseconds after midnight, up to 24:00:00) as `HH:MM:SS` with the
/// fraction in 3, 6 or 9 digits when there is one.
pub fn write_time(buf: &mut BytesMut, us: i64) {
    let us = us.clamp(0, DAY_US) as u64;
    write_number(buf, us / 3_600_000_000, 2);
    buf.put_u8(b':');
    write_number(buf, us / 60_000_000 % 60, 2);
    buf.put_u8(b':');
    write_number(buf, us / 1_000_000 % 60, 2);
    let (fraction, width) = match us % 1_000_000 {
        0 => return,
        f if f % 1000 == 0 => (f / 1000, 3),
        f => (f, 6),
    };
    buf.put_u8(b'.');
    write_number(buf, fraction, width);
}

/// `v` in decimal, zero-padded to at least `width` digits.
fn write_number(buf: &mut BytesMut, v: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v);
    buf.put_bytes(b'0', width.saturating_sub(digits.len()));
    buf.put_slice(digits.as_bytes());
}

/// Year, month and day of `days` since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, valid for every i64 DuckDB can hold).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Moment, clock: bool, utc: bool) -> String {
        let mut buf = BytesMut::new();
        m.write_text(&mut buf, clock, utc);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn dates_print_as_postgres_does_over_duckdbs_whole_range() {
        // Expected values are PostgreSQL 15's.
        let date = |days: i32| text(Moment::date(days), false, false);
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_787), "2024-03-05");
        assert_eq!(date(-719_162), "0001-01-01");
        assert_eq!(date(-719_163), "0001-12-31 BC");
        assert_eq!(date(-735_160), "0044-03-15 BC");
        assert_eq!(date(2_932_897), "10000-01-01");
        assert_eq!(date(i32::MAX), "infinity");
        assert_eq!(date(-i32::MAX), "-infinity");
        assert_eq!(date(i32::MAX - 1), "5881580-07-10");
        assert_eq!(date(-i32::MAX + 1), "5877642-06-25 BC");
        let ts = |us: i64| text(Moment::timestamp(us, 1_000_000), true, true);
        assert_eq!(ts(1_500_000), "1970-01-01 00:00:01.500+00");
        assert_eq!(ts(-1), "1969-12-31 23:59:59.999999+00");
        assert_eq!(ts(-62_167_219_200_000_000), "0001-01-01 00:00:00+00 BC");
        assert_eq!(ts(i64::MAX), "infinity");
        assert_eq!(Moment::timestamp(-i64::MAX, 1), Moment::NegInfinity, "TIMESTAMP_S too");
        assert_eq!(Moment::timestamp(1_000_000_999, 1_000_000_000), Moment::micros(1_000_000));
        assert_eq!(Moment::timestamp(i64::MAX - 1, 1), Moment::micros(i64::MAX), "saturates, no overflow");
        assert_eq!(Moment::date(-735_160).duckdb_text(false, false), "0044-03-15 (BC)");
    }

    #[test]
    fn timestamps_with_a_zone_show_the_sessions_wall_clock_and_offset() {
        let in_zone = |us: i64, zone: &str| {
            let mut buf = BytesMut::new();
            Moment::timestamp(us, 1_000_000).write_in_zone(&mut buf, Zone::parse(zone).unwrap());
            String::from_utf8(buf.to_vec()).unwrap()
        };
        // 2024-07-01 12:00:00 UTC
        let july = 1_719_835_200_000_000;
        assert_eq!(in_zone(july, "Europe/Prague"), "2024-07-01 14:00:00+02");
        assert_eq!(in_zone(july, "utc"), "2024-07-01 12:00:00+00");
        assert_eq!(in_zone(july, "Asia/Kolkata"), "2024-07-01 17:30:00+05:30");
        assert_eq!(in_zone(july, "America/St_Johns"), "2024-07-01 09:30:00-02:30");
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn times_reach_midnight_at_the_end_of_the_day() {
        let time = |us: i64| {
            let mut buf = BytesMut::new();
            write_time(&mut buf, us);
            String::from_utf8(buf.to_vec()).unwrap()
        };
        assert_eq!(time(DAY_US), "24:00:00");
        assert_eq!(time(3_723_000_007), "01:02:03.000007");
        assert_eq!(time(86_399_005_000), "23:59:59.005");
    }

    #[test]
    fn binary_forms_count_from_2000_and_keep_the_infinities() {
        for days in [0, 10_957, -800_000, i32::MAX, -i32::MAX] {
            let m = Moment::date(days);
            assert_eq!(Moment::from_binary_date(m.binary_date()), m, "{days}");
        }
        assert_eq!(Moment::date(10_957).binary_date(), 0);
        assert_eq!(Moment::NegInfinity.binary_timestamp(), i64::MIN);
        assert_eq!(Moment::from_binary_timestamp(-1), Moment::At { days: PG_EPOCH_DAYS - 1, us: DAY_US - 1 });
        assert_eq!(Moment::micros(-1).binary_timestamp(), -PG_EPOCH_DAYS * DAY_US - 1);
        assert_eq!(Moment::date(-i32::MAX + 1).binary_timestamp(), i64::MIN + 1, "saturates, no overflow");
    }
}
