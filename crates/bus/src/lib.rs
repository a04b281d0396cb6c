//! ironrack-bus
