//! IKEv2 wire codec (RFC 7296 §3, RFC 7383 SKF).
