//! RTP and RTCP: packet views, header extensions, keyframe detection, sequence/timestamp rewriting.
