#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::rtp::rtcp::TwccFeedback;

fuzz_target!(|data: &[u8]| {
    if let Ok(fb) = TwccFeedback::parse(data) {
        // Whatever parsed re-encodes (with our chunk choice) to the same statuses.
        let mut out = Vec::new();
        let n = fb.write(&mut out);
        assert_eq!(n, out.len());
        assert_eq!(TwccFeedback::parse(&out).as_ref(), Ok(&fb));
        assert_eq!(fb.arrivals().count(), fb.statuses.len());
    }
});
