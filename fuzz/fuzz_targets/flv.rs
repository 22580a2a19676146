#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::live::flv::{FlvDemuxer, FlvMuxer};

// Whatever the input, the demuxer never panics, and the tags it reads
// survive a round trip: muxing them and demuxing the result gives the same
// tags. (Byte equality with the input is too strict: the demuxer tolerates
// a wrong PreviousTagSize or stream id, as real files have them.)
fuzz_target!(|data: &[u8]| {
    let mut d = FlvDemuxer::new();
    d.push(data);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = d.next_tag() {
        tags.push(tag);
    }
    if tags.is_empty() {
        return;
    }
    let mut out = FlvMuxer::header(true, true).to_vec();
    for t in &tags {
        FlvMuxer::write_tag(t, &mut out).expect("a demuxed tag fits");
    }
    let mut again = FlvDemuxer::new();
    again.push(&out);
    for t in &tags {
        let back = again.next_tag().expect("our own output parses").expect("every tag comes back");
        assert_eq!((back.kind, back.timestamp_ms, &back.data), (t.kind, t.timestamp_ms, &t.data));
    }
});
