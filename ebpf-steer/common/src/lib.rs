//! Map key/value types and map names shared by the XDP program and its loader.
#![no_std]
