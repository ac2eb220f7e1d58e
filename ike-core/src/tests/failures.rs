//! Failure cases: each gives the right notify and leaves no half state.
