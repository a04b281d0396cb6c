//! ironrack-store
