//! Swappable crypto provider, prf+, SKEYSEED and KEYMAT (RFC 7296 §2.13-§2.17).
