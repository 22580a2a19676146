//! The file name of a recording, from SRS's `dvr_path` template.
//!
//! Variables: `[vhost]`, `[app]`, `[stream]`, `[2006]` (year), `[01]`
//! (month), `[02]` (day), `[15]` (hour), `[04]` (minute), `[05]` (second),
//! `[999]` (millisecond), `[timestamp]` (UNIX time in ms). A template that
//! does not end in `.flv` or `.mp4` is a directory: SRS adds
//! `/[stream].[timestamp].flv`.

/// A wall-clock time broken down as the path variables need it (the
/// runtime fills it from the local time zone, as SRS does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    /// UNIX time in milliseconds (`[timestamp]`).
    pub unix_ms: u64,
    /// Year, e.g. 2026 (`[2006]`).
    pub year: i32,
    /// Month 1-12 (`[01]`).
    pub month: u32,
    /// Day of the month 1-31 (`[02]`).
    pub day: u32,
    /// Hour 0-23 (`[15]`).
    pub hour: u32,
    /// Minute 0-59 (`[04]`).
    pub minute: u32,
    /// Second 0-60 (`[05]`).
    pub second: u32,
}

/// The file format of a recording, chosen by the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DvrFormat {
    /// `.flv` (and every other name).
    Flv,
    /// `.mp4`.
    Mp4,
}

impl DvrFormat {
    /// The format a file name asks for.
    pub fn of(path: &str) -> Self {
        if path.ends_with(".mp4") {
            DvrFormat::Mp4
        } else {
            DvrFormat::Flv
        }
    }
}

/// The path of a recording of `vhost`/`app`/`stream` started at `at`.
/// Stream names are taken as they are published, except that a `/` or a
/// leading `.` in one cannot leave its directory (they become `_`).
pub fn dvr_path(template: &str, vhost: &str, app: &str, stream: &str, at: &WallClock) -> String {
    let mut t = template.to_owned();
    if !t.ends_with(".flv") && !t.ends_with(".mp4") {
        t.push_str("/[stream].[timestamp].flv");
    }
    let safe = |s: &str| {
        let s = s.replace(['/', '\\', '\0'], "_");
        match s.strip_prefix('.') {
            Some(rest) => format!("_{rest}"),
            None => s,
        }
    };
    let ms = at.unix_ms % 1000;
    [
        ("[vhost]", safe(vhost)),
        ("[app]", safe(app)),
        ("[stream]", safe(stream)),
        ("[2006]", format!("{:04}", at.year)),
        ("[01]", format!("{:02}", at.month)),
        ("[02]", format!("{:02}", at.day)),
        ("[15]", format!("{:02}", at.hour)),
        ("[04]", format!("{:02}", at.minute)),
        ("[05]", format!("{:02}", at.second)),
        ("[999]", format!("{ms:03}")),
        ("[timestamp]", at.unix_ms.to_string()),
    ]
    .iter()
    .fold(t, |acc, (var, value)| acc.replace(var, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-01-03 10:57:30.776, SRS's example.
    fn srs_example() -> WallClock {
        WallClock {
            unix_ms: 1_420_254_050_776,
            year: 2015,
            month: 1,
            day: 3,
            hour: 10,
            minute: 57,
            second: 30,
        }
    }

    #[test]
    fn srs_examples() {
        let t = srs_example();
        let p = |tpl| dvr_path(tpl, "ossrs.net", "live", "livestream", &t);
        assert_eq!(
            p("./objs/nginx/html"),
            "./objs/nginx/html/livestream.1420254050776.flv"
        );
        assert_eq!(
            p("/data/[vhost]/[app]/[stream]/[2006]/[01]/[02]/[15].[04].[05].[999].flv"),
            "/data/ossrs.net/live/livestream/2015/01/03/10.57.30.776.flv"
        );
        assert_eq!(
            p("/data/[vhost]/[app]/[2006]/[01]/[stream]-[02]-[15].[04].[05].[999].flv"),
            "/data/ossrs.net/live/2015/01/livestream-03-10.57.30.776.flv"
        );
        assert_eq!(
            p("./objs/nginx/html/[app]/[stream].[timestamp].mp4"),
            "./objs/nginx/html/live/livestream.1420254050776.mp4"
        );
    }

    #[test]
    fn names_cannot_climb_out_of_their_directory() {
        let t = srs_example();
        assert_eq!(
            dvr_path("/r/[app]/[stream].flv", "v", "..", "a/../../b", &t),
            "/r/_./a_.._.._b.flv"
        );
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(DvrFormat::of("/a/b.mp4"), DvrFormat::Mp4);
        assert_eq!(DvrFormat::of("/a/b.flv"), DvrFormat::Flv);
        assert_eq!(DvrFormat::of("/a/b.mp4/x"), DvrFormat::Flv);
    }
}
