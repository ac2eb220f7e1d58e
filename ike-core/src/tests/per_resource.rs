//! RFC 9611 per-resource Child SA groups.
