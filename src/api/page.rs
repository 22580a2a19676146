//! `?start=S&count=C` of `/api/v1/clients` and `/api/v1/streams`.
//!
//! SRS reads both with `atoi` (`start = max(0, start)`, `count = max(10,
//! count)`, no upper bound), so garbage silently means "the first ten" and a
//! count below ten is raised to ten. Here a value that is not a plain
//! decimal number, and a count of 0, are refused with 400 and the reason;
//! a count is honoured as given (5 gives 5) up to [`MAX_COUNT`], and larger
//! ones are cut to it so one request never builds an unbounded answer. The
//! defaults are SRS's: start 0, count 10. An empty value is the default.

use crate::api::ApiError;
use crate::http::Request;

/// SRS's default `count`.
pub const DEFAULT_COUNT: usize = 10;

/// The most items one list answer holds (a larger `count` is cut to this).
pub const MAX_COUNT: usize = 1000;

/// A slice of a list: the items `start..start + count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Index of the first item (0-based).
    pub start: usize,
    /// How many items at most (1 to [`MAX_COUNT`]).
    pub count: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            start: 0,
            count: DEFAULT_COUNT,
        }
    }
}

impl Page {
    /// The page `req`'s query asks for.
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Self::parse(req.query_param("start"), req.query_param("count"))
    }

    /// The page of the raw `start` and `count` values (either may be absent).
    pub fn parse(start: Option<&str>, count: Option<&str>) -> Result<Self, ApiError> {
        let mut page = Page::default();
        if let Some(s) = start.filter(|s| !s.is_empty()) {
            page.start = number("start", s)?;
        }
        if let Some(c) = count.filter(|c| !c.is_empty()) {
            let n = number("count", c)?;
            if n == 0 {
                return Err(ApiError::BadRequest(
                    "invalid count \"0\": at least 1".into(),
                ));
            }
            page.count = n.min(MAX_COUNT);
        }
        Ok(page)
    }

    /// The items of `all` on this page.
    pub fn slice<'a, T>(&self, all: &'a [T]) -> &'a [T] {
        let start = self.start.min(all.len());
        let end = start.saturating_add(self.count).min(all.len());
        &all[start..end]
    }
}

/// A plain decimal number (digits only: no sign, space or fraction).
fn number(what: &str, v: &str) -> Result<usize, ApiError> {
    let shown: String = v.chars().take(32).collect();
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "invalid {what} {shown:?}: a decimal number of 0 or more"
        )));
    }
    // All digits: only a number too large for usize fails; a start that
    // large is past every list, a count is cut anyway.
    Ok(v.parse::<usize>().unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(start: Option<&str>, count: Option<&str>) -> (usize, usize) {
        let p = Page::parse(start, count).unwrap();
        (p.start, p.count)
    }

    fn refused(start: Option<&str>, count: Option<&str>) -> String {
        match Page::parse(start, count) {
            Err(e @ ApiError::BadRequest(_)) => {
                assert_eq!(e.status(), 400);
                e.to_string()
            }
            other => panic!("{start:?} {count:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_srs_ones() {
        assert_eq!(ok(None, None), (0, 10));
        assert_eq!(ok(Some(""), Some("")), (0, 10), "empty is the default");
        assert_eq!(ok(Some("7"), None), (7, 10));
        assert_eq!(ok(None, Some("3")), (0, 3), "a small count is honoured");
        assert_eq!(ok(Some("007"), Some("1")), (7, 1));
    }

    #[test]
    fn count_is_bounded_and_start_may_pass_the_end() {
        assert_eq!(ok(None, Some("1000")), (0, 1000));
        assert_eq!(ok(None, Some("1001")), (0, MAX_COUNT));
        assert_eq!(ok(None, Some("99999999999999999999999")), (0, MAX_COUNT));
        assert_eq!(ok(Some("99999999999999999999999"), None).0, usize::MAX);
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        for (start, count, names) in [
            (Some("-1"), None, "start"),
            (Some("abc"), None, "start"),
            (Some("1.5"), None, "start"),
            (Some(" 1"), None, "start"),
            (Some("+1"), None, "start"),
            (None, Some("0"), "count"),
            (None, Some("-5"), "count"),
            (None, Some("ten"), "count"),
            (None, Some("0x10"), "count"),
        ] {
            let why = refused(start, count);
            assert!(why.contains(names), "{start:?} {count:?}: {why}");
        }
        let long = "x".repeat(10_000);
        assert!(refused(Some(&long), None).len() < 200, "the echo is cut");
    }

    #[test]
    fn slices() {
        let all = [1, 2, 3, 4, 5];
        let page = |start, count| Page { start, count }.slice(&all).to_vec();
        assert_eq!(page(0, 2), [1, 2]);
        assert_eq!(page(2, 2), [3, 4]);
        assert_eq!(page(4, 2), [5]);
        assert_eq!(page(5, 2), Vec::<i32>::new());
        assert_eq!(page(usize::MAX, usize::MAX), Vec::<i32>::new());
        assert_eq!(page(1, usize::MAX), [2, 3, 4, 5]);
    }
}
