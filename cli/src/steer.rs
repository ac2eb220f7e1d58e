//! `lanes steer ...`: attach/detach/bind/status of the XDP steering program.
