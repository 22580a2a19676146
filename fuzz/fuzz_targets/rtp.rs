#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::rtp::{classify, is_keyframe, Codec, ExtIdMap, Pt, RtpHeader, Rewriter, Ssrc};

fuzz_target!(|data: &[u8]| {
    let _ = classify(data);
    let Ok(h) = RtpHeader::parse(data) else { return };
    // The view's pieces add up to the packet.
    assert_eq!(h.payload_offset() + h.payload().len() + h.padding_len(), data.len());
    for (_id, v) in h.extensions() {
        assert!(v.len() <= data.len());
    }
    for codec in [Codec::H264, Codec::Vp8, Codec::Vp9] {
        let _ = is_keyframe(codec, h.payload());
    }
    // Rewrite twice (second time as a new source) and re-parse the output.
    let now = std::time::Instant::now();
    let mut rw = Rewriter::new(90_000);
    let map = ExtIdMap::from_pairs(&[(1, 1), (2, 14), (3, 200), (4, 0)]);
    let mut out = Vec::new();
    let n = rw.rewrite_into(now, data, &mut out, Ssrc(1), Pt(96), &map).unwrap();
    assert_eq!(n, out.len());
    let o = RtpHeader::parse(&out).expect("rewritten packet parses");
    assert_eq!(o.payload(), h.payload());
    assert_eq!((o.ssrc(), o.pt()), (Ssrc(1), Pt(96)));
    let mut other = data.to_vec();
    other[8] ^= 0xff;
    rw.rewrite_into(now, &other, &mut out, Ssrc(1), Pt(96), &map).unwrap();
});
