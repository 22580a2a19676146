//! placeholder
pub struct TwccError; pub struct TwccFeedback; pub enum TwccStatus {}
