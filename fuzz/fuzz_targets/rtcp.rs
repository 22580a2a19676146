#![no_main]
use libfuzzer_sys::fuzz_target;
use shardsfu::rtp::rtcp::{parse_compound, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    for pkt in parse_compound(data) {
        // Walk every view so every accessor runs on fuzzed input.
        match pkt {
            Ok(RtcpPacket::SenderReport(s)) => {
                let _ = (s.ssrc(), s.ntp_time(), s.rtp_time(), s.packet_count(), s.octet_count());
                s.reports().for_each(drop);
            }
            Ok(RtcpPacket::ReceiverReport(r)) => r.reports().for_each(drop),
            Ok(RtcpPacket::Bye(b)) => {
                b.ssrcs().for_each(drop);
                let _ = b.reason();
            }
            Ok(RtcpPacket::Nack(n)) => {
                assert!(n.lost().count() <= 17 * n.entries().count());
            }
            Ok(RtcpPacket::Fir(f)) => f.entries().for_each(drop),
            Ok(RtcpPacket::TransportCc(t)) => {
                let _ = (t.base_seq(), t.status_count(), t.reference_time(), t.feedback_count(), t.chunks());
            }
            Ok(_) | Err(_) => {}
        }
    }
});
