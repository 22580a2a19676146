//! Typed identifiers of the media plane: a stream's key and a session's
//! token. Both are reference-counted strings, so cloning one on the packet
//! path (into a mesh message, an event) costs a counter increment, not an
//! allocation.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// A reference-counted string identifier: `From<&str>`, `Borrow<str>`
/// (maps keyed by it are looked up by text), `Display` and `Debug` as text.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name(text.into())
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
    };
}

text_id!(
    /// `app/stream`: the key of a stream in the directory and the router.
    StreamKey
);

text_id!(
    /// The unguessable token in a session's resource URL; it names the
    /// session on every shard and in the directory.
    SessionToken
);

impl StreamKey {
    /// The key of stream `stream` of app `app`.
    pub fn new(app: &str, stream: &str) -> Self {
        StreamKey(format!("{app}/{stream}").into())
    }
}

impl SessionToken {
    /// A fresh random token (32 characters).
    pub fn random() -> Self {
        SessionToken(crate::util::random_string(32).into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn keys_look_up_by_text_and_clone_without_copying() {
        let k = StreamKey::new("live", "cam");
        assert_eq!(k.as_str(), "live/cam");
        let mut m = HashMap::new();
        m.insert(k.clone(), 1);
        assert_eq!(m.get("live/cam"), Some(&1));
        let k2 = k.clone();
        assert!(std::ptr::eq(k.as_str(), k2.as_str()));
        let t = SessionToken::random();
        assert_eq!(t.as_str().len(), 32);
        assert_ne!(t, SessionToken::random());
    }
}
